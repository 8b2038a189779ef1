import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Context } from '../core/context.js';
import { TokenService } from '../core/tokens.js';
import { DatabaseCatalog } from '../databases/catalog.js';
import { openDatabaseFile } from '../databases/connection.js';
import { readScriptFile, runScript } from '../databases/scripts.js';
import { installExampleWorkflow } from '../workflows/example.js';

/** The Chinook sample script shipped with opsbox (see data/chinook/LICENSE.md). */
export const CHINOOK_SCRIPT = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../data/chinook/Chinook_Sqlite.sql',
);

/**
 * Prepares the data directory for `npm start`: the `chinook` database loaded
 * from the bundled script, the example workflow, and an API token when none
 * exists. Returns lines
 * to show the user. Existing data is never touched.
 */
export async function prepareDemo(context: Context): Promise<string[]> {
  const lines: string[] = [];
  const catalog = new DatabaseCatalog(context);
  if (!catalog.find('chinook')) {
    const record = catalog.create('chinook');
    const db = openDatabaseFile(record.file);
    try {
      runScript(db, readScriptFile(CHINOOK_SCRIPT));
    } catch (error) {
      db.close();
      catalog.delete(record.uuid);
      throw error;
    }
    db.close();
    lines.push('Loaded the Chinook sample into database "chinook".');
  }
  lines.push(...installExampleWorkflow(context));
  const tokens = new TokenService(context);
  if ((await tokens.count()) === 0) {
    const { token } = await tokens.create('demo');
    lines.push(`Created API token "demo" (shown once): ${token}`);
  }
  return lines;
}
