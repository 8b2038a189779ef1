import { UserError } from '../../core/errors.js';
import { stringifyJson } from '../../core/json.js';
import { DatabaseCatalog } from '../../databases/catalog.js';
import { openDatabaseFile } from '../../databases/connection.js';
import {
  executeStatements,
  toJsonValue,
  type QueryStatement,
  type Row,
} from '../../databases/execute.js';
import { splitStatements } from '../../databases/script.js';
import type { ActionDefinition } from '../action.js';

/** Rows shown in the Markdown table of the run summary; the `rows` output has them all. */
const SUMMARY_ROWS = 50;

const action: ActionDefinition = {
  name: 'db/execute',
  summary: 'run SQL on an opsbox database and return the rows of the last statement',
  description:
    'Runs one statement or a script on a database of `opsbox db`. A script runs in one transaction, so a failing statement changes nothing. ' +
    "The last statement's rows become the `rows` output (JSON); with summary: true they are also written to the run summary as a table.",
  inputs: {
    database: { description: 'the database name', type: 'string', required: true },
    sql: { description: 'the statement or script', type: 'string', required: true },
    params: {
      description: 'a JSON array of values bound to ? in a single statement',
      type: 'json',
    },
    summary: {
      description: 'write the rows to the run summary as a Markdown table',
      type: 'boolean',
      default: false,
    },
    title: { description: 'heading of the summary table', type: 'string' },
  },
  outputs: {
    rows: { description: 'rows of the last statement, as a JSON array of objects' },
    'row-count': { description: 'number of rows of the last statement' },
    changes: { description: 'rows changed by all statements' },
  },
  async run({ context, inputs, log, summary }) {
    const record = new DatabaseCatalog(context).get(String(inputs.database));
    const statements: QueryStatement[] = [...splitStatements(String(inputs.sql))].map(
      (statement) => ({ sql: statement.sql, line: statement.line }),
    );
    if (statements.length === 0)
      throw new UserError('invalid', 'db/execute got no SQL statement in `sql`.');
    if (inputs.params !== undefined) {
      if (!Array.isArray(inputs.params))
        throw new UserError('invalid', 'db/execute `params` must be a JSON array.');
      if (statements.length > 1)
        throw new UserError(
          'invalid',
          'db/execute `params` apply to a single statement; this script has several.',
        );
      statements[0]!.params = inputs.params;
    }
    const db = openDatabaseFile(record.file, { foreignKeys: true });
    let results;
    try {
      results = executeStatements(db, statements, {
        rowMode: 'object',
        mode: 'script',
      });
    } finally {
      db.close();
    }
    const rows = ((results[results.length - 1]?.results ?? []) as Row[]).map((row) =>
      Object.fromEntries(Object.entries(row).map(([key, value]) => [key, toJsonValue(value)])),
    );
    const changes = results.reduce((total, result) => total + result.meta.changes, 0);
    log(
      `Ran ${statements.length} statement(s) on ${record.name}: ${rows.length} row(s) returned, ${changes} changed.`,
    );
    if (inputs.summary)
      summary(markdownTable(inputs.title ? String(inputs.title) : `Query on ${record.name}`, rows));
    return {
      rows: stringifyJson(rows),
      'row-count': String(rows.length),
      changes: String(changes),
    };
  },
};

/** Renders rows as a GitHub-flavoured Markdown table under a heading. */
export function markdownTable(title: string, rows: Row[]): string {
  if (rows.length === 0) return `### ${title}\n\nNo rows.\n`;
  const columns = Object.keys(rows[0]!);
  const lines = [
    `### ${title}`,
    '',
    `| ${columns.join(' | ')} |`,
    `| ${columns.map(() => '---').join(' | ')} |`,
  ];
  for (const row of rows.slice(0, SUMMARY_ROWS))
    lines.push(`| ${columns.map((column) => markdownCell(row[column])).join(' | ')} |`);
  if (rows.length > SUMMARY_ROWS)
    lines.push('', `${rows.length - SUMMARY_ROWS} more rows are in the step's rows output.`);
  return lines.join('\n') + '\n';
}

function markdownCell(value: unknown): string {
  let text: string;
  if (value === null || value === undefined) text = 'NULL';
  else if (typeof value === 'object') text = stringifyJson(value);
  else text = String(value);
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export default action;
