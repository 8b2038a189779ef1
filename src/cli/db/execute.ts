import { performance } from 'node:perf_hooks';

import { UserError } from '../../core/errors.js';
import { DatabaseCatalog, type DatabaseRecord } from '../../databases/catalog.js';
import { openDatabaseFile } from '../../databases/connection.js';
import type { RawRows } from '../../databases/execute.js';
import { readScriptFile, runScript } from '../../databases/scripts.js';
import type { CommandInput, CommandSpec } from '../command.js';
import { formatBytes, info, printJson, printList, printTable } from '../output.js';
import { scriptProgress } from '../progress.js';

/** Runs `--command` or `--file` against a database; shared by `execute` and `import`. */
export function executeOnDatabase(
  input: CommandInput,
  source: { command?: string; file?: string },
  createIfMissing: boolean,
): void {
  const { args, options, context } = input;
  const catalog = new DatabaseCatalog(context);
  const name = args[0]!;
  // Read and check the script before creating anything, so bad input changes nothing.
  const script = source.file !== undefined ? readScriptFile(source.file) : source.command!;
  const created = createIfMissing && !catalog.find(name) ? catalog.create(name) : undefined;
  const record = created ?? catalog.get(name);
  try {
    runOnDatabase(record, script, source.file !== undefined, options);
  } catch (error) {
    // A database that this import created and could not fill is removed again.
    if (created) catalog.delete(created.uuid);
    throw error;
  }
}

function runOnDatabase(
  record: DatabaseRecord,
  script: string,
  fromFile: boolean,
  options: Record<string, any>,
): void {
  const db = openDatabaseFile(record.file);
  const progress = fromFile && !options.json ? scriptProgress(script.length) : undefined;
  const started = performance.now();
  let statements = 0;
  let rowsWritten = 0;
  try {
    const results = runScript(db, script, {
      rowMode: options.json ? 'object' : 'array',
      onProgress: progress ? (offset) => progress.update(offset) : undefined,
      onResult: options.json
        ? undefined
        : (result) => {
            statements++;
            rowsWritten += result.meta.rows_written;
            const raw = result.results as RawRows;
            if (raw.columns.length === 0) return;
            if (process.stdout.isTTY) printTable(raw.columns, raw.rows);
            else printList(raw.rows);
          },
    });
    progress?.stop();
    if (options.json) return printJson(results);
    const size = formatBytes(
      Number(db.pragma('page_count', { simple: true })) *
        Number(db.pragma('page_size', { simple: true })),
    );
    info(
      `Executed ${statements} statement(s) on "${record.name}" in ${(performance.now() - started).toFixed(0)} ms; ${rowsWritten} row(s) written; database size ${size}.`,
    );
  } finally {
    progress?.stop();
    db.close();
  }
}

export const executeCommand: CommandSpec = {
  name: 'execute <name>',
  summary: 'run SQL from --command or --file as one transaction',
  options: [
    {
      flags: '--command <sql>',
      description: 'SQL to run (one or more statements)',
      conflicts: ['file'],
    },
    {
      flags: '--file <path>',
      description: 'SQL script to run, such as a .dump',
      conflicts: ['command'],
    },
    { flags: '--json', description: "print D1's JSON: one {results, success, meta} per statement" },
    {
      flags: '-y, --yes',
      description: 'answer yes to prompts (accepted for wrangler compatibility)',
    },
  ],
  run(input) {
    const { command, file } = input.options;
    if (command === undefined && file === undefined) {
      throw new UserError('usage', 'Missing SQL: pass --command "SQL" or --file PATH.');
    }
    executeOnDatabase(input, { command, file }, false);
  },
};

export const importCommand: CommandSpec = {
  name: 'import <name> <file>',
  summary: 'run a SQL script (such as a .dump) into a database, creating it when missing',
  options: [{ flags: '--json', description: "print D1's JSON for each statement" }],
  run(input) {
    executeOnDatabase(input, { file: input.args[1]! }, true);
  },
};
