import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import type { Context } from '../core/context.js';
import { UserError } from '../core/errors.js';

export type ActionInputType = 'string' | 'number' | 'boolean' | 'json';

export interface ActionInput {
  description: string;
  type: ActionInputType;
  required?: boolean;
  default?: string | number | boolean;
}

export interface ActionOutput {
  description: string;
}

/** Arguments of an action's `run`, built when its step runs. */
export interface ActionRunContext {
  context: Context;
  /** The step's `with:` values, converted to each input's type, with defaults applied. */
  inputs: Record<string, unknown>;
  /** Writes one line to the step's log (masked like every other line). */
  log(line: string): void;
  /** Appends Markdown to the run's summary, like `$GITHUB_STEP_SUMMARY`. */
  summary(markdown: string): void;
  /** Aborted when the step times out or the run is cancelled. */
  signal: AbortSignal;
  /** The job's working directory. */
  workspace: string;
}

/**
 * A built-in action, used in a step as `uses: NAME`. Each lives in one file
 * of the `actions/` folder with a default export; the folder is read at
 * startup, so adding an action is adding a file.
 */
export interface ActionDefinition {
  /** `group/verb`, such as `db/execute`. */
  name: string;
  summary: string;
  description?: string;
  inputs: Record<string, ActionInput>;
  outputs: Record<string, ActionOutput>;
  /** Runs the action; the returned values become the step's outputs (non-strings as JSON). */
  run(run: ActionRunContext): Promise<Record<string, unknown>>;
}

let loaded: Promise<Map<string, ActionDefinition>> | undefined;

/** Loads every action module in the `actions/` folder once per process. */
export function loadActions(): Promise<Map<string, ActionDefinition>> {
  loaded ??= importActions();
  return loaded;
}

async function importActions(): Promise<Map<string, ActionDefinition>> {
  const folder = new URL('./actions/', import.meta.url);
  if (!existsSync(fileURLToPath(folder))) return new Map();
  const files = readdirSync(fileURLToPath(folder))
    .filter((file) => file.endsWith('.js'))
    .sort();
  const actions = new Map<string, ActionDefinition>();
  for (const file of files) {
    const module = (await import(new URL(file, folder).href)) as { default?: ActionDefinition };
    const action = module.default;
    if (!action?.name || typeof action.run !== 'function') continue;
    if (actions.has(action.name))
      throw new Error(`Two action modules define ${action.name}; rename one.`);
    actions.set(action.name, action);
  }
  return actions;
}

/** Returns an action by name or fails with the list of known actions. */
export async function findAction(name: string): Promise<ActionDefinition> {
  const actions = await loadActions();
  const action = actions.get(name);
  if (!action) {
    throw new UserError(
      'not_found',
      `Unknown action "${name}". Known actions: ${[...actions.keys()].join(', ')}; run \`opsbox action list\`.`,
      { code: 'ACTION_NOT_FOUND' },
    );
  }
  return action;
}

/**
 * Converts a step's `with:` values to the types the action declares and
 * applies defaults. Every value arrives as a string after expressions are
 * rendered, as on GitHub, so numbers, booleans and JSON are parsed here.
 */
export function coerceActionInputs(
  action: ActionDefinition,
  values: Record<string, unknown>,
): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const key of Object.keys(values)) {
    if (!(key in action.inputs)) {
      throw new UserError(
        'invalid',
        `Action ${action.name} has no input "${key}". Its inputs: ${Object.keys(action.inputs).join(', ')}.`,
      );
    }
  }
  for (const [key, spec] of Object.entries(action.inputs)) {
    const raw = values[key] ?? spec.default;
    if (raw === undefined || raw === '') {
      if (spec.required)
        throw new UserError(
          'invalid',
          `Action ${action.name} needs the input "${key}" (${spec.description}); add it under \`with:\`.`,
        );
      continue;
    }
    result[key] = coerceValue(action.name, key, spec.type, raw);
  }
  return result;
}

function coerceValue(action: string, key: string, type: ActionInputType, raw: unknown): unknown {
  const text = typeof raw === 'string' ? raw : JSON.stringify(raw);
  switch (type) {
    case 'string':
      return typeof raw === 'string' ? raw : String(raw);
    case 'number': {
      const value = Number(text);
      if (text.trim() === '' || !Number.isFinite(value))
        throw new UserError(
          'invalid',
          `Invalid input "${key}" of ${action}: "${text}" is not a number.`,
        );
      return value;
    }
    case 'boolean':
      if (/^(true|false)$/i.test(text)) return text.toLowerCase() === 'true';
      throw new UserError(
        'invalid',
        `Invalid input "${key}" of ${action}: "${text}" is not true or false.`,
      );
    case 'json':
      if (typeof raw !== 'string') return raw;
      try {
        return JSON.parse(raw);
      } catch {
        throw new UserError(
          'invalid',
          `Invalid input "${key}" of ${action}: the value is not valid JSON.`,
        );
      }
  }
}
