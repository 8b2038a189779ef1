import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';

import { DatabaseCatalog } from '../../databases/catalog.js';
import { openDatabaseFile } from '../../databases/connection.js';
import { dumpDatabase } from '../../databases/dump.js';
import type { ActionDefinition } from '../action.js';

const action: ActionDefinition = {
  name: 'db/export',
  summary: "write an opsbox database as a SQL dump in the sqlite3 shell's .dump format",
  description:
    'The dump is written to a temporary file and renamed once complete, so a failed export never leaves a partial file under the output name.',
  inputs: {
    database: { description: 'the database name', type: 'string', required: true },
    output: {
      description: 'the dump file, relative to the working directory',
      type: 'string',
      required: true,
    },
    tables: { description: 'comma-separated tables to export (default: all)', type: 'string' },
    data: { description: 'include the rows', type: 'boolean', default: true },
    schema: { description: 'include the schema', type: 'boolean', default: true },
  },
  outputs: {
    path: { description: 'absolute path of the dump file' },
    bytes: { description: 'size of the dump in bytes' },
  },
  async run({ context, inputs, log, workspace }) {
    const record = new DatabaseCatalog(context).get(String(inputs.database));
    const output = path.resolve(workspace, String(inputs.output));
    mkdirSync(path.dirname(output), { recursive: true });
    const tables = inputs.tables
      ? String(inputs.tables)
          .split(',')
          .map((table) => table.trim())
          .filter(Boolean)
      : undefined;
    const temp = `${output}.${process.pid}.tmp`;
    const db = openDatabaseFile(record.file, { readonly: true });
    const fd = openSync(temp, 'w', 0o600);
    try {
      dumpDatabase(
        db,
        { tables, data: inputs.data !== false, schema: inputs.schema !== false },
        (chunk) => {
          writeSync(fd, chunk);
        },
      );
      fsyncSync(fd);
      closeSync(fd);
      renameSync(temp, output);
    } catch (error) {
      closeSync(fd);
      rmSync(temp, { force: true });
      throw error;
    } finally {
      db.close();
    }
    const bytes = statSync(output).size;
    log(`Exported ${record.name} to ${output} (${bytes} bytes).`);
    return { path: output, bytes: String(bytes) };
  },
};

export default action;
