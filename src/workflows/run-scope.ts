import { arch, hostname } from 'node:os';

import { ExpressionEvaluationError } from '@actions/expressions';

import type { Context } from '../core/context.js';
import { UserError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Masker } from '../secrets/masker.js';
import {
  ExpressionScope,
  parseCondition,
  parseTemplate,
  referencedSecrets,
  type TemplatePart,
} from './expressions.js';
import { scheduleKey, type LoadedWorkflow, type PathSegment } from './parse.js';
import type { RunLogWriter, RunRecord, RunStore } from './store.js';

/** Everything the jobs and steps of one run share. */
export interface RunScope {
  context: Context;
  logger: Logger;
  store: RunStore;
  run: RunRecord;
  workflow: LoadedWorkflow;
  inputs: Record<string, unknown>;
  vars: Record<string, string>;
  secrets: Map<string, string>;
  masker: Masker;
  log: RunLogWriter;
  /** Per-run folder for scripts and the $GITHUB_OUTPUT-style files; removed after the run. */
  tempDir: string;
  /** Default working directory of `run` steps. */
  workspace: string;
  killGraceMs: number;
  /** Aborted with reason 'cancelled' when the run is cancelled. */
  signal: AbortSignal;
  /** Markdown appended through $GITHUB_STEP_SUMMARY and by actions. */
  summaries: string[];
}

/** Builds the contexts every expression of a run can read, before job-specific ones are added. */
export function runContexts(scope: RunScope, jobId?: string): Record<string, unknown> {
  return {
    github: {
      run_id: String(scope.run.id),
      run_number: String(scope.run.number),
      workflow: scope.workflow.name,
      workflow_ref: scope.workflow.file,
      event_name: scope.run.event,
      event: {
        inputs: scope.inputs,
        schedule: scope.workflow.schedules.find(
          (s) => scheduleKey(scope.workflow.id, s) === scope.run.scheduleKey,
        )?.cron,
      },
      workspace: scope.workspace,
      job: jobId,
    },
    inputs: scope.inputs,
    secrets: Object.fromEntries(scope.secrets),
    vars: scope.vars,
    runner: { os: runnerOs(), arch: arch().toUpperCase(), name: hostname(), temp: scope.tempDir },
  };
}

function runnerOs(): string {
  if (process.platform === 'darwin') return 'macOS';
  if (process.platform === 'win32') return 'Windows';
  return 'Linux';
}

/**
 * Renders a string with `${{ }}` expressions. An expression that reads a
 * secret that is not set fails with the file position, instead of silently
 * becoming '' as on GitHub: a missing credential is better reported than
 * sent as an empty string.
 */
export function renderString(
  scope: RunScope,
  expressions: ExpressionScope,
  value: string,
  where: PathSegment[],
): string {
  return renderValue(scope, expressions, value, where, true) as string;
}

/** Like renderString, but a value that is one whole expression keeps its type (for matrix and fromJSON). */
export function renderValue(
  scope: RunScope,
  expressions: ExpressionScope,
  value: string,
  where: PathSegment[],
  asString = false,
): unknown {
  const parts = parseTemplate(value);
  checkSecrets(scope, parts, where);
  try {
    return expressions.render(parts, asString);
  } catch (error) {
    throw evaluationError(scope, error, where);
  }
}

/** Evaluates an `if:` (a boolean is taken as is). */
export function testCondition(
  scope: RunScope,
  expressions: ExpressionScope,
  condition: string | boolean | undefined,
  where: PathSegment[],
): boolean {
  if (condition === undefined) condition = 'success()';
  if (typeof condition === 'boolean')
    return condition && expressions.test(parseCondition('success()'));
  try {
    return expressions.test(parseCondition(condition));
  } catch (error) {
    throw evaluationError(scope, error, where);
  }
}

/** Evaluates a flag such as `continue-on-error`, given as a boolean or an expression. */
export function testFlag(
  scope: RunScope,
  expressions: ExpressionScope,
  value: string | boolean | undefined,
  where: PathSegment[],
): boolean {
  if (value === undefined) return false;
  if (typeof value === 'boolean') return value;
  const rendered = renderValue(scope, expressions, value, where);
  return rendered === true || String(rendered).toLowerCase() === 'true';
}

function checkSecrets(scope: RunScope, parts: TemplatePart[], where: PathSegment[]): void {
  for (const part of parts) {
    if (typeof part === 'string') continue;
    for (const name of referencedSecrets(part.expr)) {
      if (!scope.secrets.has(name)) {
        throw new UserError(
          'invalid',
          `Secret ${name} is not set (used at ${scope.workflow.where(where)}). Set it with \`opsbox secret set ${name}\`.`,
          { code: 'SECRET_NOT_SET' },
        );
      }
    }
  }
}

function evaluationError(scope: RunScope, error: unknown, where: PathSegment[]): unknown {
  if (error instanceof UserError) return error;
  if (error instanceof ExpressionEvaluationError || error instanceof Error) {
    return new UserError(
      'invalid',
      `Expression failed at ${scope.workflow.where(where)}: ${scope.masker.mask(errorMessage(error))}`,
      { code: 'EXPRESSION_FAILED' },
    );
  }
  return error;
}
