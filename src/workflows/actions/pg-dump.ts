import { mkdirSync } from 'node:fs';
import path from 'node:path';

import { UserError } from '../../core/errors.js';
import { dumpDatabase, type DumpFormat } from '../../postgres/index.js';
import type { ActionDefinition } from '../action.js';

const FORMATS: DumpFormat[] = ['custom', 'plain', 'tar'];

const action: ActionDefinition = {
  name: 'pg/dump',
  summary: 'dump a PostgreSQL database with pg_dump to a file',
  description:
    'Runs the pg_dump that matches the server version, writing to a temporary file renamed on success, so a failed dump never leaves a partial file under the output name.',
  inputs: {
    url: { description: 'a postgres:// URL', type: 'string', required: true },
    output: {
      description: 'the dump file, relative to the working directory',
      type: 'string',
      required: true,
    },
    format: {
      description: 'custom (for pg_restore), plain (SQL) or tar',
      type: 'string',
      default: 'custom',
    },
  },
  outputs: {
    path: { description: 'absolute path of the dump file' },
    bytes: { description: 'size of the dump in bytes' },
    tables: { description: 'number of tables dumped' },
  },
  async run({ inputs, log, signal, workspace }) {
    const format = String(inputs.format) as DumpFormat;
    if (!FORMATS.includes(format))
      throw new UserError('invalid', `Invalid format "${format}": use ${FORMATS.join(', ')}.`);
    const output = path.resolve(workspace, String(inputs.output));
    mkdirSync(path.dirname(output), { recursive: true });
    const result = await dumpDatabase({ url: String(inputs.url), env: {}, output, format, signal });
    log(
      `Dumped ${result.tables} tables (${result.bytes} bytes) to ${result.output} with pg_dump ${result.pgDumpVersion}.`,
    );
    return { path: result.output, bytes: String(result.bytes), tables: String(result.tables) };
  },
};

export default action;
