import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

import type { Context } from '../core/context.js';
import { LAYOUT } from '../core/data-dir.js';
import { UserError, errorMessage } from '../core/errors.js';
import { loadActions } from './action.js';
import { parseWorkflow, type LoadedWorkflow } from './parse.js';

export interface CatalogEntry {
  id: string;
  file: string;
  workflow?: LoadedWorkflow;
  /** Reason the file did not load; a broken file is listed next to the others. */
  error?: string;
}

/** Reads and validates one workflow file. */
export async function loadWorkflowFile(file: string): Promise<LoadedWorkflow> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UserError('not_found', `Cannot read workflow file ${file}: ${errorMessage(error)}.`, {
      code: 'WORKFLOW_NOT_FOUND',
    });
  }
  return parseWorkflow(text, path.resolve(file), await loadActions());
}

export function workflowsDir(context: Context): string {
  return context.dataDir.path(LAYOUT.workflows);
}

/** Paths of the `*.yml` and `*.yaml` files in the data directory's workflows folder, sorted. */
export function listWorkflowFiles(context: Context): string[] {
  const dir = workflowsDir(context);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((file) => /\.ya?ml$/i.test(file))
    .sort()
    .map((file) => path.join(dir, file));
}

/** Loads every workflow file of the data directory; a broken file is listed with its error. */
export async function listWorkflows(context: Context): Promise<CatalogEntry[]> {
  const entries: CatalogEntry[] = [];
  for (const full of listWorkflowFiles(context)) {
    const id = path.basename(full).replace(/\.ya?ml$/i, '');
    try {
      entries.push({ id, file: full, workflow: await loadWorkflowFile(full) });
    } catch (error) {
      entries.push({ id, file: full, error: errorMessage(error) });
    }
  }
  return entries;
}

/**
 * Finds a workflow by id (file name without extension) in the workflows
 * folder, or loads it from a path when the argument names an existing file.
 */
export async function resolveWorkflow(
  context: Context,
  reference: string,
): Promise<LoadedWorkflow> {
  if (/\.ya?ml$/i.test(reference) && existsSync(reference) && statSync(reference).isFile())
    return loadWorkflowFile(reference);
  const dir = workflowsDir(context);
  for (const extension of ['.yml', '.yaml']) {
    const file = path.join(dir, reference + extension);
    if (existsSync(file)) return loadWorkflowFile(file);
  }
  throw new UserError(
    'not_found',
    `Workflow "${reference}" not found: no file ${reference}.yml in ${dir}, and no such file. List workflows with \`opsbox workflow list\`.`,
    { code: 'WORKFLOW_NOT_FOUND' },
  );
}
