import { UserError } from '../core/errors.js';
import type { LoadedWorkflow } from './parse.js';

/**
 * Checks dispatch inputs against `on.workflow_dispatch.inputs` and converts
 * them to their types: booleans and numbers keep their type in the `inputs`
 * context, as on GitHub. Defaults fill missing inputs; a missing required
 * input, an unknown input or a value outside a choice's options is rejected.
 */
export function resolveInputs(
  workflow: LoadedWorkflow,
  given: Record<string, unknown>,
): Record<string, unknown> {
  const specs = workflow.definition.on.workflow_dispatch?.inputs ?? {};
  const resolved: Record<string, unknown> = {};
  for (const name of Object.keys(given)) {
    if (!(name in specs)) {
      const known = Object.keys(specs);
      const hint =
        known.length > 0
          ? `its inputs are ${known.join(', ')}`
          : 'it declares no inputs under on.workflow_dispatch.inputs';
      throw new UserError(
        'invalid',
        `Unknown input "${name}" for workflow ${workflow.id}: ${hint}.`,
        { code: 'INPUT_INVALID' },
      );
    }
  }
  for (const [name, spec] of Object.entries(specs)) {
    const raw = given[name] ?? spec.default;
    if (raw === undefined || raw === '') {
      if (spec.required) {
        throw new UserError(
          'invalid',
          `Missing required input "${name}" for workflow ${workflow.id}; pass --input ${name}=VALUE.`,
          { code: 'INPUT_INVALID' },
        );
      }
      resolved[name] = spec.type === 'boolean' ? false : '';
      continue;
    }
    resolved[name] = convert(workflow.id, name, spec.type ?? 'string', raw, spec.options);
  }
  return resolved;
}

function convert(
  workflow: string,
  name: string,
  type: string,
  raw: unknown,
  options: unknown[] | undefined,
): unknown {
  const text = String(raw);
  switch (type) {
    case 'boolean':
      if (typeof raw === 'boolean') return raw;
      if (/^(true|false)$/i.test(text)) return text.toLowerCase() === 'true';
      throw new UserError(
        'invalid',
        `Invalid input "${name}" for workflow ${workflow}: "${text}" is not true or false.`,
        { code: 'INPUT_INVALID' },
      );
    case 'number': {
      const value = Number(text);
      if (text.trim() === '' || !Number.isFinite(value)) {
        throw new UserError(
          'invalid',
          `Invalid input "${name}" for workflow ${workflow}: "${text}" is not a number.`,
          { code: 'INPUT_INVALID' },
        );
      }
      return value;
    }
    case 'choice':
      if (!options!.map(String).includes(text)) {
        throw new UserError(
          'invalid',
          `Invalid input "${name}" for workflow ${workflow}: "${text}" is not one of ${options!.join(', ')}.`,
          { code: 'INPUT_INVALID' },
        );
      }
      return text;
    default:
      return text;
  }
}

/** Parses `--input name=value` flags. */
export function parseInputFlags(flags: string[] = []): Record<string, string> {
  const values: Record<string, string> = {};
  for (const flag of flags) {
    const equals = flag.indexOf('=');
    if (equals <= 0)
      throw new UserError('usage', `Invalid --input "${flag}": use --input name=value.`);
    values[flag.slice(0, equals)] = flag.slice(equals + 1);
  }
  return values;
}
