import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Context } from '../../src/core/context.js';
import { DatabaseCatalog } from '../../src/databases/catalog.js';
import { openDatabaseFile } from '../../src/databases/connection.js';
import { readScriptFile, runScript } from '../../src/databases/scripts.js';
import { resolveWorkflow } from '../../src/workflows/catalog.js';
import { WorkflowEngine } from '../../src/workflows/engine.js';
import { installExampleWorkflow } from '../../src/workflows/example.js';
import { ROOT, tempDir } from '../helpers/cli.js';
import { finished, output } from './helpers.js';

describe('example workflow on Chinook', () => {
  const temp = tempDir('example');
  let context: Context;
  let passed = false;
  before(() => {
    context = new Context({ dataDir: path.join(temp.dir, 'data') });
    const record = new DatabaseCatalog(context).create('chinook');
    const db = openDatabaseFile(record.file);
    runScript(db, readScriptFile(path.join(ROOT, 'data', 'chinook', 'Chinook_Sqlite.sql')));
    db.close();
  });
  after(() => {
    context.close();
    temp.cleanup(passed);
  });

  it('installs once and keeps an edited copy', () => {
    const lines = installExampleWorkflow(context);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^Installed the example workflow .*chinook-report\.yml/);
    assert.deepEqual(installExampleWorkflow(context), []);
  });

  it('backs up, exports and reports the top customers', async () => {
    const engine = new WorkflowEngine(context);
    const workflow = await resolveWorkflow(context, 'chinook-report');
    const { done } = await engine.dispatch(workflow, {
      event: 'workflow_dispatch',
      inputs: { top: '3' },
    });
    const result = await finished(context, engine, await done);

    assert.equal(result.run.status, 'success', result.log.join('\n'));
    assert.deepEqual(
      result.jobs.map((job) => [job.key, job.status]),
      [
        ['backup', 'success'],
        ['report', 'success'],
        ['doctor', 'skipped'],
      ],
    );
    const top = JSON.parse(result.run.outputs!.report!['top-customers']!);
    assert.deepEqual(top, [
      { id: 6, customer: 'Helena Holý', country: 'Czech Republic', invoices: 7, total: 49.62 },
      { id: 26, customer: 'Richard Cunningham', country: 'USA', invoices: 7, total: 47.62 },
      { id: 57, customer: 'Luis Rojas', country: 'Chile', invoices: 7, total: 46.62 },
    ]);
    assert.match(
      result.run.summary!,
      /^### Top customers by invoice total\n\n\| id \| customer \| country \| invoices \| total \|\n\| --- \| --- \| --- \| --- \| --- \|\n\| 6 \| Helena Holý \| Czech Republic \| 7 \| 49.62 \|/,
    );

    const backup = result.jobs[0]!.outputs!;
    assert.match(backup['backup-id']!, /^\d{8}T\d{9}Z-[0-9a-f]{6}$/);
    const exportPath = backup['export-path']!;
    assert.equal(
      exportPath,
      path.join(
        context.dataDir.root,
        'workspaces',
        'chinook-report',
        'exports',
        `chinook-run-${result.run.number}.sql`,
      ),
    );
    const dump = readFileSync(exportPath, 'utf8');
    assert.ok(dump.startsWith('PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n'));
    assert.ok(dump.includes('CREATE TABLE [Invoice]\n'));
    assert.equal(dump.match(/^INSERT INTO Invoice VALUES\(/gm)?.length, 412);
    assert.ok(
      existsSync(
        path.join(context.dataDir.root, 'backups', 'chinook', `${backup['backup-id']}.sqlite`),
      ),
    );
    assert.deepEqual(output(result, 'report').slice(-1), [
      `Backup ${backup['backup-id']}, SQL export ${exportPath}`,
    ]);
    passed = true;
  });
});
