import { arch } from 'node:os';

import { UserError } from '../core/errors.js';
import type { LoadedWorkflow } from './parse.js';

const LABEL_PATTERN = /^[a-z0-9][a-z0-9._-]*$/;

/**
 * Returns the labels every worker has, as GitHub's self-hosted runners do:
 * `self-hosted`, the operating system and the architecture. Labels compare
 * without regard to case, so they are kept in lower case.
 */
export function defaultWorkerLabels(): string[] {
  let os = 'linux';
  if (process.platform === 'darwin') os = 'macos';
  else if (process.platform === 'win32') os = 'windows';
  return ['self-hosted', os, arch()];
}

/** Parses a comma-separated list of worker labels, such as `--labels gpu,eu-west`. */
export function parseLabels(text: string): string[] {
  const labels = text
    .split(',')
    .map((label) => label.trim().toLowerCase())
    .filter((label) => label.length > 0);
  for (const label of labels) {
    if (!LABEL_PATTERN.test(label))
      throw new UserError(
        'usage',
        `Invalid label "${label}": use letters, digits, dots, dashes and underscores, separated by commas.`,
      );
  }
  return labels;
}

/**
 * Returns the labels a worker needs to take a run: every literal `runs-on`
 * label of the workflow's jobs. A label written as an expression is known
 * only while the run executes, so it selects no worker.
 */
export function runLabels(workflow: LoadedWorkflow): string[] {
  const labels = new Set<string>();
  for (const job of Object.values(workflow.definition.jobs)) {
    const runsOn = job['runs-on'];
    for (const label of runsOn === undefined ? [] : [runsOn].flat()) {
      if (!label.includes('${{')) labels.add(label.trim().toLowerCase());
    }
  }
  return [...labels].sort();
}

/** Returns the labels of `required` that `offered` lacks. */
export function missingLabels(required: string[], offered: string[]): string[] {
  return required.filter((label) => !offered.includes(label));
}
