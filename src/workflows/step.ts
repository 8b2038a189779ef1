import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { errorMessage } from '../core/errors.js';
import { coerceActionInputs, findAction } from './action.js';
import type { ExpressionScope } from './expressions.js';
import { parseFileCommands } from './file-commands.js';
import type { PathSegment } from './parse.js';
import { renderString, testFlag, type RunScope } from './run-scope.js';
import type { StepDefinition } from './schema.js';
import { runShell, scriptPathFor } from './shell.js';

/** Result of one attempt of a step. */
interface Attempt {
  ok: boolean;
  exitCode: number | null;
  error: string | null;
  outputs: Record<string, string>;
  env: Record<string, string>;
  path: string[];
}

export interface StepResult {
  /** The result before continue-on-error, as GitHub's `steps.<id>.outcome`. */
  outcome: 'success' | 'failure' | 'cancelled';
  /** The result after continue-on-error, as GitHub's `steps.<id>.conclusion`. */
  conclusion: 'success' | 'failure' | 'cancelled';
  outputs: Record<string, string>;
  env: Record<string, string>;
  path: string[];
  attempts: number;
  exitCode: number | null;
  error: string | null;
}

export interface StepInput {
  scope: RunScope;
  expressions: ExpressionScope;
  step: StepDefinition;
  where: PathSegment[];
  jobKey: string;
  jobIndex: number;
  number: number;
  /** The environment of the step's process: process, job and step variables merged. */
  env: Record<string, string>;
  workingDirectory: string;
  shell?: string;
  /** Aborted with reason 'timeout' when the job times out, 'cancelled' when it is cancelled. */
  signal: AbortSignal;
  /** The job's `timeout-minutes`, named when the job's timeout stops the step. */
  jobTimeoutMinutes: number;
}

const MINUTE = 60_000;

/** Runs a step with its timeout and `retry` policy; never throws for a failing step. */
export async function executeStep(input: StepInput): Promise<StepResult> {
  const retry = retryPolicy(input.step.retry);
  let attempt: Attempt = { ok: false, exitCode: null, error: null, outputs: {}, env: {}, path: [] };
  let attempts = 0;
  for (attempts = 1; attempts <= retry.attempts; attempts++) {
    attempt = await runAttempt(input, attempts);
    if (attempt.ok || input.signal.aborted || attempts === retry.attempts) break;
    const delay = retry.delayMs * (retry.exponential ? 2 ** (attempts - 1) : 1);
    input.scope.log.write(
      `Attempt ${attempts} of ${retry.attempts} failed; retrying in ${delay / 1000}s.`,
      input.jobKey,
      input.number,
    );
    try {
      await sleep(delay, undefined, { signal: input.signal });
    } catch {
      break;
    }
  }
  attempts = Math.min(attempts, retry.attempts);

  const outcome = attempt.ok
    ? 'success'
    : input.signal.aborted && input.signal.reason === 'cancelled'
      ? 'cancelled'
      : 'failure';
  let conclusion: StepResult['conclusion'] = outcome;
  if (
    outcome === 'failure' &&
    testFlag(input.scope, input.expressions, input.step['continue-on-error'], [
      ...input.where,
      'continue-on-error',
    ])
  ) {
    input.scope.log.write(
      'The step failed; continuing because of continue-on-error.',
      input.jobKey,
      input.number,
    );
    conclusion = 'success';
  }
  return {
    outcome,
    conclusion,
    outputs: attempt.outputs,
    env: attempt.env,
    path: attempt.path,
    attempts,
    exitCode: attempt.exitCode,
    error: attempt.error,
  };
}

function retryPolicy(retry: StepDefinition['retry']): {
  attempts: number;
  delayMs: number;
  exponential: boolean;
} {
  if (retry === undefined) return { attempts: 1, delayMs: 0, exponential: false };
  if (typeof retry === 'number') return { attempts: retry, delayMs: 1000, exponential: true };
  return {
    attempts: retry.attempts,
    delayMs: retry['delay-seconds'] * 1000,
    exponential: retry.backoff === 'exponential',
  };
}

async function runAttempt(input: StepInput, attempt: number): Promise<Attempt> {
  const controller = new AbortController();
  const forward = () => controller.abort(input.signal.reason);
  if (input.signal.aborted) forward();
  else input.signal.addEventListener('abort', forward, { once: true });
  const minutes = input.step['timeout-minutes'];
  // The job's timeout aborts with the same reason, so this flag marks the step's own timeout.
  let stepTimedOut = false;
  const timer = minutes
    ? setTimeout(() => {
        if (controller.signal.aborted) return;
        stepTimedOut = true;
        controller.abort('timeout');
      }, minutes * MINUTE)
    : undefined;
  try {
    const result =
      input.step.run !== undefined
        ? await runScript(input, attempt, controller.signal)
        : await runAction(input, controller.signal);
    if (controller.signal.reason === 'timeout') {
      const message = stepTimedOut
        ? `The step timed out after ${minutes} minutes; its processes were stopped.`
        : `The job timed out after ${input.jobTimeoutMinutes} minutes; the step's processes were stopped.`;
      input.scope.log.write(message, input.jobKey, input.number);
      return { ...result, ok: false, error: message };
    }
    if (controller.signal.aborted && !result.ok) {
      const message = 'The step was cancelled; its processes were stopped.';
      input.scope.log.write(message, input.jobKey, input.number);
      return { ...result, error: message };
    }
    return result;
  } catch (error) {
    const message = input.scope.masker.mask(errorMessage(error));
    input.scope.log.write(`Error: ${message}`, input.jobKey, input.number);
    return { ok: false, exitCode: null, error: message, outputs: {}, env: {}, path: [] };
  } finally {
    clearTimeout(timer);
    input.signal.removeEventListener('abort', forward);
  }
}

async function runScript(input: StepInput, attempt: number, signal: AbortSignal): Promise<Attempt> {
  const { scope } = input;
  const script = renderString(scope, input.expressions, input.step.run!, [...input.where, 'run']);
  const base = scriptPathFor(scope.tempDir, input.jobIndex, input.number, attempt);
  const files = {
    output: `${base}.output`,
    env: `${base}.env`,
    summary: `${base}.summary`,
    path: `${base}.path`,
  };
  const env = {
    ...input.env,
    GITHUB_OUTPUT: files.output,
    OPSBOX_OUTPUT: files.output,
    GITHUB_ENV: files.env,
    GITHUB_STEP_SUMMARY: files.summary,
    GITHUB_PATH: files.path,
  };
  const result = await runShell({
    script,
    shell: input.shell,
    scriptPath: base,
    cwd: input.workingDirectory,
    env,
    signal,
    killGraceMs: scope.killGraceMs,
    onLine: (line) => scope.log.write(line, input.jobKey, input.number),
  });

  const [summary, outputText, envText, pathText] = await Promise.all(
    [files.summary, files.output, files.env, files.path].map(readIfExists),
  );
  if (summary!.trim() !== '') scope.summaries.push(summary!);
  const outputs = parseFileCommands(outputText!, '$GITHUB_OUTPUT');
  const stepEnv = parseFileCommands(envText!, '$GITHUB_ENV');
  const paths = pathText!
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const ok = result.exitCode === 0;
  let error: string | null = null;
  if (!ok && !signal.aborted) {
    error = result.signal
      ? `The process was stopped by ${result.signal}.`
      : `The process exited with code ${result.exitCode}.`;
    scope.log.write(`Error: ${error}`, input.jobKey, input.number);
  }
  return { ok, exitCode: result.exitCode, error, outputs, env: stepEnv, path: paths };
}

async function runAction(input: StepInput, signal: AbortSignal): Promise<Attempt> {
  const { scope } = input;
  const action = await findAction(input.step.uses!);
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input.step.with ?? {})) {
    raw[key] =
      typeof value === 'string'
        ? renderString(scope, input.expressions, value, [...input.where, 'with', key])
        : value;
  }
  const inputs = coerceActionInputs(action, raw);
  const result = await action.run({
    context: scope.context,
    inputs,
    log: (line) => scope.log.write(line, input.jobKey, input.number),
    summary: (markdown) => scope.summaries.push(markdown),
    signal,
    workspace: input.workingDirectory,
  });
  const outputs: Record<string, string> = {};
  for (const [key, value] of Object.entries(result)) {
    if (value === undefined) continue;
    outputs[key] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  return { ok: true, exitCode: null, error: null, outputs, env: {}, path: [] };
}

/**
 * Reads a file a step may have appended to. The files are not created in
 * advance: `>>` creates them, and skipping four empty files per step is a
 * measurable share of a short step's cost.
 */
async function readIfExists(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
}

/** Resolves `working-directory` against the run's workspace. */
export function resolveWorkingDirectory(workspace: string, directory: string | undefined): string {
  return directory ? path.resolve(workspace, directory) : workspace;
}
