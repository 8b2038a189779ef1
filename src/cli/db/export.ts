import { closeSync, fsyncSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';

import { UserError, errorMessage } from '../../core/errors.js';
import { DatabaseCatalog } from '../../databases/catalog.js';
import { openDatabaseFile } from '../../databases/connection.js';
import type { CommandSpec } from '../command.js';
import { info } from '../output.js';

export const exportCommand: CommandSpec = {
  name: 'export <name>',
  summary: "write a SQL dump in the sqlite3 shell's .dump format",
  options: [
    { flags: '--output <file>', description: 'file to write (default: stdout)' },
    {
      flags: '--table <table>',
      description: 'export only this table with its indexes and triggers (repeatable)',
      repeatable: true,
    },
    { flags: '--no-data', description: 'schema only' },
    { flags: '--no-schema', description: 'data only' },
  ],
  async run({ args: [name], options, context }) {
    const { dumpDatabase } = await import('../../databases/dump.js');
    if (options.data === false && options.schema === false) {
      throw new UserError(
        'usage',
        'Cannot combine --no-data with --no-schema: the export would be empty. Pass at most one of them.',
      );
    }
    const record = new DatabaseCatalog(context).get(name!);
    const db = openDatabaseFile(record.file, { readonly: true });
    const output: string | undefined = options.output;
    // A file export goes to a temp name first, so an interrupted export never
    // leaves a truncated dump under the requested name.
    const temp = output ? `${output}.${process.pid}.tmp` : undefined;
    const fd = temp ? openOutput(output!, temp) : 1;
    // dumpDatabase hands over chunks of about 64 K characters.
    const write = temp
      ? (chunk: string) => writeSync(fd, chunk)
      : (chunk: string) => writeAll(fd, chunk);
    try {
      dumpDatabase(
        db,
        { tables: options.table, data: options.data !== false, schema: options.schema !== false },
        write,
      );
      if (temp) fsyncSync(fd);
    } catch (error) {
      if (temp) {
        closeSync(fd);
        rmSync(temp, { force: true });
      }
      throw error;
    } finally {
      db.close();
    }
    if (temp) {
      closeSync(fd);
      renameSync(temp, output!);
      info(`Exported "${record.name}" to ${output}.`);
    }
  },
};

/** Opens the temp file of an export, rejecting an output path that cannot be written. */
function openOutput(output: string, temp: string): number {
  if (statSync(output, { throwIfNoEntry: false })?.isDirectory()) {
    throw new UserError(
      'invalid',
      `Cannot write the export to ${output}: it is a directory. Pass a file name, such as ${path.join(output, 'dump.sql')}.`,
    );
  }
  try {
    return openSync(temp, 'w');
  } catch (error) {
    throw new UserError(
      'unavailable',
      `Cannot write the export to ${output}: ${errorMessage(error)}. Check that its folder exists and is writable.`,
    );
  }
}

/** Writes all of a chunk to stdout, which may be a non-blocking pipe. */
function writeAll(fd: number, text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset);
    } catch (error) {
      // stdout may be a non-blocking pipe; wait for the reader and retry.
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
}
