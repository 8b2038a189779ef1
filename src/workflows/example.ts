import { copyFileSync, existsSync, renameSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Context } from '../core/context.js';
import { workflowsDir } from './catalog.js';

/** The example workflow shipped in the repository. */
export const EXAMPLE_WORKFLOW = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../examples/workflows/chinook-report.yml',
);

/**
 * Copies the Chinook report workflow into the data directory's workflows
 * folder when no file of that name exists there, so a user's edits are never
 * overwritten. Returns lines to show at startup.
 */
export function installExampleWorkflow(context: Context): string[] {
  const target = path.join(
    context.dataDir.ensure(path.basename(workflowsDir(context))),
    path.basename(EXAMPLE_WORKFLOW),
  );
  if (existsSync(target)) return [];
  // Through a temp name, so the scheduler never reads a half-copied file.
  const temp = `${target}.${process.pid}.tmp`;
  copyFileSync(EXAMPLE_WORKFLOW, temp);
  renameSync(temp, target);
  return [
    `Installed the example workflow ${target}: run it with \`opsbox workflow run chinook-report\`.`,
  ];
}
