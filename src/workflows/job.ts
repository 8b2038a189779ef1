import { ExpressionScope, type JobStatus as StatusFlags } from './expressions.js';
import type { MatrixCombination } from './matrix.js';
import type { PathSegment } from './parse.js';
import { renderString, runContexts, testCondition, type RunScope } from './run-scope.js';
import type { JobStatus, StepRecord } from './store.js';
import { executeStep, resolveWorkingDirectory } from './step.js';

export interface NeedResult {
  result: 'success' | 'failure' | 'cancelled' | 'skipped';
  outputs: Record<string, string>;
}

export interface JobInstance {
  jobId: string;
  key: string;
  /** Unique within the run, for temp file names. */
  index: number;
  matrix?: MatrixCombination;
  strategy: Record<string, unknown>;
  needs: Record<string, NeedResult>;
}

export interface JobOutcome {
  status: Exclude<JobStatus, 'queued' | 'running'>;
  outputs: Record<string, string>;
}

const MINUTE = 60_000;
/** GitHub's default job timeout. */
const DEFAULT_JOB_TIMEOUT_MINUTES = 360;
/** Variables of the opsbox process that steps must not inherit. */
const HIDDEN_VARIABLES = ['OPSBOX_SECRET_KEY', 'OPSBOX_DATABASE_URL'];

/**
 * Runs one job (or one matrix combination of it): its steps in order, each
 * gated by its `if:`, then its outputs. `groupSignal` aborts it when another
 * combination fails under fail-fast.
 */
export async function executeJob(
  scope: RunScope,
  instance: JobInstance,
  groupSignal: AbortSignal,
): Promise<JobOutcome> {
  const job = scope.workflow.definition.jobs[instance.jobId]!;
  const where: PathSegment[] = ['jobs', instance.jobId];
  const startedAt = new Date().toISOString();
  const save = (
    status: JobStatus,
    outputs: Record<string, string> | null,
    error: string | null,
    finishedAt: string | null,
  ) =>
    scope.store.saveJob(scope.run.id, {
      key: instance.key,
      jobId: instance.jobId,
      status,
      matrix: instance.matrix ?? null,
      outputs,
      error,
      startedAt,
      finishedAt,
    });
  await save('running', null, null, null);
  scope.log.write(`Job ${instance.key} started.`, instance.key);

  const controller = new AbortController();
  const abort = (reason: string) => () => controller.abort(reason);
  const onRunAbort = abort('cancelled');
  const onGroupAbort = abort('cancelled');
  scope.signal.addEventListener('abort', onRunAbort, { once: true });
  groupSignal.addEventListener('abort', onGroupAbort, { once: true });
  if (scope.signal.aborted || groupSignal.aborted) controller.abort('cancelled');
  const minutes = job['timeout-minutes'] ?? DEFAULT_JOB_TIMEOUT_MINUTES;
  const timer = setTimeout(() => controller.abort('timeout'), minutes * MINUTE);

  const status: StatusFlags = { failed: false, cancelled: controller.signal.aborted };
  controller.signal.addEventListener('abort', () => {
    status.cancelled = true;
  });
  const steps: Record<
    string,
    { outputs: Record<string, string>; outcome: string; conclusion: string }
  > = {};
  const contexts = (env: Record<string, string>) => ({
    ...runContexts(scope, instance.jobId),
    needs: instance.needs,
    matrix: instance.matrix ?? {},
    strategy: instance.strategy,
    job: { status: jobStatusName(status) },
    steps,
    env,
  });

  let error: string | null = null;
  try {
    const env = renderEnv(scope, contexts, {}, scope.workflow.definition.env, ['env']);
    Object.assign(env, renderEnv(scope, contexts, env, job.env, [...where, 'env']));
    const addedEnv: Record<string, string> = {};
    const addedPath: string[] = [];
    for (const [index, step] of job.steps.entries()) {
      const number = index + 1;
      const stepWhere = [...where, 'steps', index];
      const expressions = new ExpressionScope(contexts({ ...env, ...addedEnv }), status);
      const name = scope.masker.mask(stepName(scope, expressions, step, stepWhere));
      const record: StepRecord = {
        jobKey: instance.key,
        number,
        stepId: step.id ?? null,
        name,
        status: 'running',
        outcome: null,
        outputs: null,
        attempts: 0,
        exitCode: null,
        error: null,
        startedAt: new Date().toISOString(),
        finishedAt: null,
      };

      if (!testCondition(scope, expressions, step.if, [...stepWhere, 'if'])) {
        await scope.store.saveStep(scope.run.id, {
          ...record,
          status: 'skipped',
          outcome: 'skipped',
          finishedAt: record.startedAt,
        });
        if (step.id) steps[step.id] = { outputs: {}, outcome: 'skipped', conclusion: 'skipped' };
        continue;
      }
      await scope.store.saveStep(scope.run.id, record);
      scope.log.write(`Run ${name}`, instance.key, number);

      const stepEnv = renderEnv(scope, contexts, { ...env, ...addedEnv }, step.env, [
        ...stepWhere,
        'env',
      ]);
      const stepExpressions = new ExpressionScope(
        contexts({ ...env, ...addedEnv, ...stepEnv }),
        status,
      );
      const result = await executeStep({
        scope,
        expressions: stepExpressions,
        step,
        where: stepWhere,
        jobKey: instance.key,
        jobIndex: instance.index,
        number,
        env: processEnv(scope, instance, { ...env, ...addedEnv, ...stepEnv }, addedPath),
        workingDirectory: resolveWorkingDirectory(
          scope.workspace,
          step['working-directory'] ??
            job.defaults?.run?.['working-directory'] ??
            scope.workflow.definition.defaults?.run?.['working-directory'],
        ),
        shell:
          step.shell ?? job.defaults?.run?.shell ?? scope.workflow.definition.defaults?.run?.shell,
        signal: controller.signal,
        jobTimeoutMinutes: minutes,
      });

      Object.assign(addedEnv, result.env);
      addedPath.unshift(...result.path.reverse());
      if (step.id)
        steps[step.id] = {
          outputs: result.outputs,
          outcome: result.outcome,
          conclusion: result.conclusion,
        };
      if (result.conclusion === 'failure') status.failed = true;
      let stepStatus: StepRecord['status'] = result.outcome === 'success' ? 'success' : 'failure';
      if (result.conclusion === 'cancelled') stepStatus = 'cancelled';
      await scope.store.saveStep(scope.run.id, {
        ...record,
        status: stepStatus,
        outcome: result.outcome,
        outputs: scope.masker.maskDeep(result.outputs),
        attempts: result.attempts,
        exitCode: result.exitCode,
        error: result.error,
        finishedAt: new Date().toISOString(),
      });
    }
  } catch (caught) {
    status.failed = true;
    error = scope.masker.mask((caught as Error).message ?? String(caught));
    scope.log.write(`Error: ${error}`, instance.key);
  } finally {
    clearTimeout(timer);
    scope.signal.removeEventListener('abort', onRunAbort);
    groupSignal.removeEventListener('abort', onGroupAbort);
  }

  if (controller.signal.reason === 'timeout') {
    status.failed = true;
    error = `The job timed out after ${minutes} minutes.`;
    scope.log.write(error, instance.key);
  }
  let outputs: Record<string, string> = {};
  if (!status.cancelled) {
    try {
      outputs = jobOutputs(scope, instance, contexts({}), status, where);
    } catch (caught) {
      status.failed = true;
      error = scope.masker.mask((caught as Error).message);
      scope.log.write(`Error: ${error}`, instance.key);
    }
  }
  let result: JobOutcome['status'] = status.failed ? 'failure' : 'success';
  if (controller.signal.reason === 'cancelled') result = 'cancelled';
  if (
    result === 'failure' &&
    testContinue(scope, contexts({}), status, job['continue-on-error'], [
      ...where,
      'continue-on-error',
    ])
  ) {
    scope.log.write(
      `Job ${instance.key} failed; the run continues because of continue-on-error.`,
      instance.key,
    );
    result = 'success';
  }
  await save(result, outputs, error, new Date().toISOString());
  scope.log.write(`Job ${instance.key} finished: ${result}.`, instance.key);
  return { status: result, outputs };
}

function jobStatusName(status: StatusFlags): string {
  if (status.cancelled) return 'cancelled';
  return status.failed ? 'failure' : 'success';
}

function testContinue(
  scope: RunScope,
  contexts: Record<string, unknown>,
  status: StatusFlags,
  value: string | boolean | undefined,
  where: PathSegment[],
): boolean {
  if (value === undefined) return false;
  if (typeof value === 'boolean') return value;
  return (
    renderString(scope, new ExpressionScope(contexts, status), value, where).toLowerCase() ===
    'true'
  );
}

function renderEnv(
  scope: RunScope,
  contexts: (env: Record<string, string>) => Record<string, unknown>,
  current: Record<string, string>,
  values: Record<string, string | number | boolean> | undefined,
  where: PathSegment[],
): Record<string, string> {
  const rendered: Record<string, string> = {};
  if (!values) return rendered;
  const expressions = new ExpressionScope(contexts(current));
  for (const [key, value] of Object.entries(values)) {
    rendered[key] =
      typeof value === 'string'
        ? renderString(scope, expressions, value, [...where, key])
        : String(value);
  }
  return rendered;
}

function stepName(
  scope: RunScope,
  expressions: ExpressionScope,
  step: { name?: string; run?: string; uses?: string },
  where: PathSegment[],
): string {
  if (step.name) return renderString(scope, expressions, step.name, [...where, 'name']);
  if (step.uses) return step.uses;
  const firstLine = step.run!.trim().split('\n')[0]!;
  return firstLine.length > 80 ? `${firstLine.slice(0, 77)}...` : firstLine;
}

/** Builds the environment of a step's process: the server's variables less opsbox's own keys, then the workflow's. */
function processEnv(
  scope: RunScope,
  instance: JobInstance,
  env: Record<string, string>,
  addedPath: string[],
): Record<string, string> {
  const inherited: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !HIDDEN_VARIABLES.includes(key)) inherited[key] = value;
  }
  const merged: Record<string, string> = {
    ...inherited,
    CI: 'true',
    OPSBOX: 'true',
    GITHUB_WORKFLOW: scope.workflow.name,
    GITHUB_RUN_ID: String(scope.run.id),
    GITHUB_RUN_NUMBER: String(scope.run.number),
    GITHUB_JOB: instance.jobId,
    GITHUB_EVENT_NAME: scope.run.event,
    GITHUB_WORKSPACE: scope.workspace,
    RUNNER_TEMP: scope.tempDir,
    RUNNER_OS: 'Linux',
    ...env,
  };
  if (addedPath.length > 0) merged.PATH = [...addedPath, merged.PATH ?? ''].join(':');
  return merged;
}

/**
 * Renders `jobs.<id>.outputs`. An output that contains a secret is withheld
 * with a warning, as GitHub does, so a secret never leaves its job.
 */
function jobOutputs(
  scope: RunScope,
  instance: JobInstance,
  contexts: Record<string, unknown>,
  status: StatusFlags,
  where: PathSegment[],
): Record<string, string> {
  const definitions = scope.workflow.definition.jobs[instance.jobId]!.outputs ?? {};
  const expressions = new ExpressionScope(contexts, status);
  const outputs: Record<string, string> = {};
  for (const [name, template] of Object.entries(definitions)) {
    const value = renderString(scope, expressions, template, [...where, 'outputs', name]);
    if (scope.masker.contains(value)) {
      scope.log.write(
        `Warning: output "${name}" of job ${instance.key} was withheld because it contains a secret.`,
        instance.key,
      );
      continue;
    }
    outputs[name] = value;
  }
  return outputs;
}
