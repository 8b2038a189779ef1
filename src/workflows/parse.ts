import path from 'node:path';

import { Cron } from 'croner';
import {
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type Node,
  type Pair,
} from 'yaml';
import type { z } from 'zod';

import type { ActionDefinition } from './action.js';
import {
  ExpressionSyntaxError,
  hasExpression,
  parseCondition,
  parseTemplate,
} from './expressions.js';
import { WorkflowFileError, type Problem } from './problems.js';
import { workflowSchema, type JobDefinition, type WorkflowDefinition } from './schema.js';

export type PathSegment = string | number;

export interface Position {
  line: number;
  column: number;
}

export interface Schedule {
  cron: string;
  /** IANA time zone; UTC when the file names none. */
  timezone: string;
  /** Index of the entry under `on.schedule`. */
  index: number;
}

/** A workflow file that parsed and validated, with a map back to its lines. */
export interface LoadedWorkflow {
  /** The file name without extension: the id used by `opsbox workflow run NAME`. */
  id: string;
  /** The `name:` of the file, or its id. */
  name: string;
  file: string;
  /** The file's text, which a queued run carries to the worker that executes it. */
  source: string;
  definition: WorkflowDefinition;
  schedules: Schedule[];
  /** Returns the line and column of a value in the file, or of its nearest parent. */
  locate(path: PathSegment[]): Position;
  /** Formats `file:line:column` for a value, for runtime errors. */
  where(path: PathSegment[]): string;
}

/** Identifies a schedule across restarts: a changed cron or zone is a new schedule. */
export function scheduleKey(workflowId: string, schedule: Schedule): string {
  return `${workflowId}#${schedule.index}:${schedule.cron}@${schedule.timezone}`;
}

export const JOB_ID_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/**
 * Parses and validates a workflow file's text. Every problem is collected
 * (YAML syntax, schema, expressions, cron, job graph, actions) and reported
 * at once with its line and column; nothing is returned unless all pass.
 */
export function parseWorkflow(
  text: string,
  file: string,
  actions: Map<string, ActionDefinition>,
): LoadedWorkflow {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const displayFile = displayPath(file);
  const problems: Problem[] = [];
  const at = (offset: number): Position => {
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
  const locate = (target: PathSegment[], key = false): Position => at(nodeOffset(doc, target, key));
  const report = (target: PathSegment[], message: string, key = false) =>
    problems.push({ file: displayFile, ...locate(target, key), message });

  for (const error of doc.errors) {
    problems.push({
      file: displayFile,
      ...at(error.pos[0]),
      message: error.message.split('\n')[0]!,
    });
  }
  if (problems.length > 0) throw new WorkflowFileError(problems);

  const raw = doc.toJS({ maxAliasCount: 100 }) as unknown;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new WorkflowFileError([
      {
        file: displayFile,
        line: 1,
        column: 1,
        message: 'a workflow file must be a mapping with `on:` and `jobs:`',
      },
    ]);
  }
  const parsed = workflowSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) reportIssue(issue, [], report);
    throw new WorkflowFileError(sortProblems(problems));
  }

  const definition = parsed.data;
  checkJobs(definition, report, actions);
  checkExpressions(doc, text, lineCounter, raw as Record<string, unknown>, displayFile, problems);
  const schedules = checkSchedules(definition, report);
  checkDispatchInputs(definition, report);
  if (problems.length > 0) throw new WorkflowFileError(sortProblems(problems));

  const id = path.basename(file).replace(/\.ya?ml$/i, '');
  return {
    id,
    name: definition.name ?? id,
    file,
    source: text,
    definition,
    schedules,
    locate: (target) => locate(target),
    where: (target) => {
      const position = locate(target);
      return `${displayFile}:${position.line}:${position.column}`;
    },
  };
}

/** Shows a file relative to the working directory when it is inside it. */
export function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

function sortProblems(problems: Problem[]): Problem[] {
  return problems.sort((a, b) => a.line - b.line || a.column - b.column);
}

type Report = (target: PathSegment[], message: string, key?: boolean) => void;

/** Turns a zod issue into problems; a union reports the branch that got furthest. */
function reportIssue(issue: z.core.$ZodIssue, prefix: PathSegment[], report: Report): void {
  const target = [...prefix, ...(issue.path as PathSegment[])];
  if (issue.code === 'unrecognized_keys') {
    for (const key of issue.keys)
      report([...target, key], `unknown key "${key}"${where(target)}`, true);
    return;
  }
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const best = [...issue.errors].sort((a, b) => depth(b) - depth(a))[0]!;
    if (depth(best) > 0) {
      for (const inner of best) reportIssue(inner, target, report);
      return;
    }
  }
  if (
    issue.code === 'invalid_type' &&
    / received undefined$/.test(issue.message) &&
    target.length > 0
  ) {
    const parent = target.slice(0, -1);
    report(parent, `missing key "${target[target.length - 1]}"${where(parent)}`);
    return;
  }
  report(target, `${describe(target)}: ${issue.message}`);
}

function depth(issues: z.core.$ZodIssue[]): number {
  return Math.max(
    0,
    ...issues.map((issue) => issue.path.length + (issue.code === 'unrecognized_keys' ? 1 : 0)),
  );
}

function where(target: PathSegment[]): string {
  return target.length === 0 ? ' at the top level' : ` in ${describe(target)}`;
}

function describe(target: PathSegment[]): string {
  if (target.length === 0) return 'the workflow';
  return target
    .map((segment) => (typeof segment === 'number' ? `[${segment}]` : segment))
    .join('.')
    .replace(/\.\[/g, '[');
}

/** Returns the source offset of the node at a path (or of the key when `key` is set), falling back to the nearest parent found. */
function nodeOffset(doc: Document, target: PathSegment[], key: boolean): number {
  let node: Node | null | undefined = doc.contents as Node | null;
  let offset = node?.range?.[0] ?? 0;
  for (let i = 0; i < target.length; i++) {
    const segment = target[i]!;
    if (isMap(node)) {
      const pair: Pair<unknown, unknown> | undefined = node.items.find(
        (item) => String(isScalar(item.key) ? item.key.value : item.key) === String(segment),
      );
      if (!pair) break;
      const last = i === target.length - 1;
      const keyNode = pair.key as Node | null;
      node = (last && key ? keyNode : (pair.value as Node | null)) ?? keyNode;
    } else if (isSeq(node)) {
      node = node.items[Number(segment)] as Node | undefined;
    } else {
      break;
    }
    if (!node?.range) break;
    offset = node.range[0];
  }
  return offset;
}

function checkJobs(
  definition: WorkflowDefinition,
  report: Report,
  actions: Map<string, ActionDefinition>,
): void {
  const jobIds = Object.keys(definition.jobs);
  for (const [jobId, job] of Object.entries(definition.jobs)) {
    if (!JOB_ID_PATTERN.test(jobId)) {
      report(
        ['jobs', jobId],
        `invalid job id "${jobId}": use letters, digits, _ and -, starting with a letter or _`,
        true,
      );
    }
    jobNeeds(job).forEach((need, index) => {
      if (!jobIds.includes(need)) {
        const target = Array.isArray(job.needs)
          ? ['jobs', jobId, 'needs', index]
          : ['jobs', jobId, 'needs'];
        report(
          target,
          `job "${jobId}" needs "${need}", which is not a job in this workflow (jobs: ${jobIds.join(', ')})`,
        );
      }
    });
    checkMatrix(jobId, job, report);
    checkSteps(jobId, job, report, actions);
  }
  const cycle = findCycle(definition);
  if (cycle)
    report(['jobs', cycle[0]!, 'needs'], `jobs form a cycle through needs: ${cycle.join(' -> ')}`);
}

export function jobNeeds(job: JobDefinition): string[] {
  if (job.needs === undefined) return [];
  return Array.isArray(job.needs) ? job.needs : [job.needs];
}

function findCycle(definition: WorkflowDefinition): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (jobId: string): string[] | undefined => {
    if (state.get(jobId) === 'done') return undefined;
    if (state.get(jobId) === 'visiting') return [...stack.slice(stack.indexOf(jobId)), jobId];
    const job = definition.jobs[jobId];
    if (!job) return undefined;
    state.set(jobId, 'visiting');
    stack.push(jobId);
    for (const need of jobNeeds(job)) {
      const cycle = visit(need);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(jobId, 'done');
    return undefined;
  };
  for (const jobId of Object.keys(definition.jobs)) {
    const cycle = visit(jobId);
    if (cycle) return cycle;
  }
  return undefined;
}

function checkMatrix(jobId: string, job: JobDefinition, report: Report): void {
  const matrix = job.strategy?.matrix;
  if (matrix === undefined || typeof matrix === 'string') return;
  const base = ['jobs', jobId, 'strategy', 'matrix'];
  for (const [key, value] of Object.entries(matrix)) {
    if (key === 'include' || key === 'exclude') {
      if (typeof value === 'string') continue;
      const valid =
        Array.isArray(value) &&
        value.every((item) => item && typeof item === 'object' && !Array.isArray(item));
      if (!valid) report([...base, key], `matrix ${key} must be a list of mappings`);
      continue;
    }
    if (typeof value === 'string' && hasExpression(value)) continue;
    if (!Array.isArray(value) || value.length === 0)
      report([...base, key], `matrix key "${key}" must be a non-empty list of values`);
  }
}

function checkSteps(
  jobId: string,
  job: JobDefinition,
  report: Report,
  actions: Map<string, ActionDefinition>,
): void {
  const seen = new Set<string>();
  job.steps.forEach((step, index) => {
    const target = ['jobs', jobId, 'steps', index];
    if (step.id) {
      if (seen.has(step.id))
        report([...target, 'id'], `duplicate step id "${step.id}" in job "${jobId}"`);
      seen.add(step.id);
    }
    if ((step.uses === undefined) === (step.run === undefined)) {
      report(target, 'a step needs exactly one of `run` or `uses`');
      return;
    }
    if (step.run !== undefined) {
      if (step.with)
        report(
          [...target, 'with'],
          '`with` applies to `uses` steps; pass values to a `run` step through `env`',
          true,
        );
      return;
    }
    if (step.shell) report([...target, 'shell'], '`shell` applies to `run` steps only', true);
    checkActionStep(step.uses!, step.with ?? {}, target, report, actions);
  });
}

function checkActionStep(
  uses: string,
  values: Record<string, unknown>,
  target: PathSegment[],
  report: Report,
  actions: Map<string, ActionDefinition>,
): void {
  const action = actions.get(uses);
  if (!action) {
    report(
      [...target, 'uses'],
      `unknown action "${uses}"; built-in actions are ${[...actions.keys()].join(', ')} (see \`opsbox action list\`)`,
    );
    return;
  }
  for (const key of Object.keys(values)) {
    if (!(key in action.inputs))
      report(
        [...target, 'with', key],
        `action ${uses} has no input "${key}"; its inputs are ${Object.keys(action.inputs).join(', ')}`,
        true,
      );
  }
  for (const [key, spec] of Object.entries(action.inputs)) {
    if (spec.required && spec.default === undefined && values[key] === undefined) {
      report([...target, 'uses'], `action ${uses} needs the input "${key}" (${spec.description})`);
    }
  }
}

/**
 * Parses every `${{ }}` in the file, and every `if:` (where the wrapper is
 * optional), so a typo is reported at load time instead of mid-run.
 */
function checkExpressions(
  doc: Document,
  text: string,
  lineCounter: LineCounter,
  raw: Record<string, unknown>,
  file: string,
  problems: Problem[],
): void {
  const visit = (value: unknown, target: PathSegment[]) => {
    if (typeof value === 'string') {
      const isCondition =
        target[target.length - 1] === 'if' && (target.length === 3 || target.length === 5);
      if (!isCondition && !hasExpression(value)) return;
      try {
        if (isCondition) parseCondition(value);
        else parseTemplate(value);
      } catch (error) {
        if (!(error instanceof ExpressionSyntaxError)) throw error;
        const position = expressionPosition(doc, text, lineCounter, target, value, error);
        problems.push({ file, ...position, message: `invalid expression: ${error.message}` });
      }
      return;
    }
    if (Array.isArray(value)) value.forEach((item, index) => visit(item, [...target, index]));
    else if (value && typeof value === 'object')
      for (const [key, item] of Object.entries(value)) visit(item, [...target, key]);
  };
  visit(raw, []);
}

function expressionPosition(
  doc: Document,
  text: string,
  lineCounter: LineCounter,
  target: PathSegment[],
  value: string,
  error: ExpressionSyntaxError,
): Position {
  const nodeStart = nodeOffset(doc, target, false);
  const open = value.lastIndexOf('${{', error.column);
  const fragment = value.slice(Math.max(open, 0), error.column);
  const found = fragment ? text.indexOf(fragment, nodeStart) : -1;
  const offset = found >= 0 && !fragment.includes('\n') ? found + fragment.length : nodeStart;
  const pos = lineCounter.linePos(offset);
  return { line: pos.line, column: pos.col };
}

function checkSchedules(definition: WorkflowDefinition, report: Report): Schedule[] {
  const schedules: Schedule[] = [];
  (definition.on.schedule ?? []).forEach((entry, index) => {
    const target = ['on', 'schedule', index];
    const timezone = entry.timezone ?? 'UTC';
    if (!isTimeZone(timezone)) {
      report(
        [...target, 'timezone'],
        `unknown time zone "${timezone}"; use an IANA name such as Europe/Berlin or America/New_York`,
      );
      return;
    }
    const problem = cronProblem(entry.cron, timezone);
    if (problem) {
      report([...target, 'cron'], problem);
      return;
    }
    schedules.push({ cron: entry.cron.trim(), timezone, index });
  });
  return schedules;
}

/** Returns why a cron expression is unusable, or undefined when it is fine. */
export function cronProblem(expression: string, timezone = 'UTC'): string | undefined {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) {
    return `invalid cron "${expression}": expected 5 fields (minute hour day-of-month month day-of-week), got ${fields.length}`;
  }
  let cron: Cron;
  try {
    cron = new Cron(expression, { timezone, paused: true, mode: '5-part' });
  } catch (error) {
    return `invalid cron "${expression}": ${(error as Error).message.replace(/^CronPattern: /, '')}`;
  }
  if (cron.nextRun() === null)
    return `cron "${expression}" never fires (no date matches it); fix the day and month fields`;
  return undefined;
}

export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

function checkDispatchInputs(definition: WorkflowDefinition, report: Report): void {
  const inputs = definition.on.workflow_dispatch?.inputs ?? {};
  for (const [name, input] of Object.entries(inputs)) {
    const target = ['on', 'workflow_dispatch', 'inputs', name];
    const type = input.type ?? 'string';
    if (type === 'choice' && (!input.options || input.options.length === 0)) {
      report(target, `input "${name}" is a choice and needs a non-empty \`options\` list`);
      continue;
    }
    if (input.options && type !== 'choice')
      report([...target, 'options'], `\`options\` applies to inputs of type choice only`, true);
    if (input.default === undefined) continue;
    if (type === 'boolean' && typeof input.default !== 'boolean')
      report([...target, 'default'], `default of boolean input "${name}" must be true or false`);
    if (type === 'number' && !Number.isFinite(Number(input.default)))
      report([...target, 'default'], `default of number input "${name}" must be a number`);
    if (type === 'choice' && !input.options!.map(String).includes(String(input.default))) {
      report(
        [...target, 'default'],
        `default "${input.default}" of input "${name}" is not one of its options (${input.options!.join(', ')})`,
      );
    }
  }
}
