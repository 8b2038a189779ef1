import { z } from 'zod';

/**
 * The workflow file format: GitHub Actions syntax where it applies, plus
 * `retry` on steps and `missed-runs` on the workflow. Objects are strict, so
 * a misspelt key is an error instead of being ignored.
 */

const scalar = z.union([z.string(), z.number(), z.boolean()]);
const expressionOrBoolean = z.union([z.boolean(), z.string()]);
const envMap = z.record(z.string(), scalar);
const minutes = z
  .number()
  .positive()
  .max(7 * 24 * 60);

const runDefaults = z.strictObject({
  run: z
    .strictObject({
      shell: z.string().optional(),
      'working-directory': z.string().optional(),
    })
    .optional(),
});

const retry = z.union([
  z.number().int().min(1).max(20),
  z.strictObject({
    attempts: z.number().int().min(1).max(20),
    backoff: z.enum(['fixed', 'exponential']).default('exponential'),
    'delay-seconds': z.number().min(0).max(3600).default(1),
  }),
]);

export const stepSchema = z.strictObject({
  id: z
    .string()
    .regex(
      /^[A-Za-z_][A-Za-z0-9_-]*$/,
      'must start with a letter or _ and contain only letters, digits, _ and -',
    )
    .optional(),
  name: z.string().optional(),
  if: expressionOrBoolean.optional(),
  uses: z.string().optional(),
  with: z.record(z.string(), scalar).optional(),
  run: z.string().optional(),
  shell: z.string().optional(),
  'working-directory': z.string().optional(),
  env: envMap.optional(),
  'continue-on-error': expressionOrBoolean.optional(),
  'timeout-minutes': minutes.optional(),
  retry: retry.optional(),
});

const matrix = z.union([z.string(), z.record(z.string(), z.unknown())]);

export const jobSchema = z.strictObject({
  name: z.string().optional(),
  'runs-on': z.union([z.string(), z.array(z.string())]).optional(),
  needs: z.union([z.string(), z.array(z.string())]).optional(),
  if: expressionOrBoolean.optional(),
  'timeout-minutes': minutes.optional(),
  'continue-on-error': expressionOrBoolean.optional(),
  env: envMap.optional(),
  defaults: runDefaults.optional(),
  strategy: z
    .strictObject({
      matrix,
      'fail-fast': expressionOrBoolean.optional(),
      'max-parallel': z.number().int().positive().optional(),
    })
    .optional(),
  outputs: z.record(z.string(), z.string()).optional(),
  steps: z.array(stepSchema).min(1, 'a job needs at least one step'),
});

const dispatchInput = z.strictObject({
  description: z.string().optional(),
  required: z.boolean().optional(),
  default: scalar.optional(),
  type: z.enum(['string', 'boolean', 'choice', 'number', 'environment']).optional(),
  options: z.array(scalar).optional(),
});

const triggers = z.strictObject({
  schedule: z
    .array(
      z.strictObject({
        cron: z.string(),
        timezone: z.string().optional(),
      }),
    )
    .min(1)
    .optional(),
  workflow_dispatch: z
    .strictObject({ inputs: z.record(z.string(), dispatchInput).optional() })
    .nullable()
    .optional(),
});

/** `on: workflow_dispatch` and `on: [workflow_dispatch]` are shorthands of the object form. */
const on = z.preprocess((value) => {
  if (typeof value === 'string') return { [value]: null };
  if (Array.isArray(value) && value.every((item) => typeof item === 'string'))
    return Object.fromEntries(value.map((item) => [item, null]));
  return value;
}, triggers);

export const workflowSchema = z.strictObject({
  name: z.string().optional(),
  'run-name': z.string().optional(),
  on,
  env: envMap.optional(),
  defaults: runDefaults.optional(),
  concurrency: z
    .union([
      z.string(),
      z.strictObject({
        group: z.string(),
        'cancel-in-progress': expressionOrBoolean.optional(),
      }),
    ])
    .optional(),
  'missed-runs': z.enum(['skip', 'run-once']).optional(),
  // Accepted so files written for GitHub load; opsbox has no token scopes.
  permissions: z.unknown().optional(),
  jobs: z
    .record(z.string(), jobSchema)
    .refine((jobs) => Object.keys(jobs).length > 0, 'a workflow needs at least one job'),
});

export type WorkflowDefinition = z.infer<typeof workflowSchema>;
export type JobDefinition = z.infer<typeof jobSchema>;
export type StepDefinition = z.infer<typeof stepSchema>;
export type DispatchInputDefinition = z.infer<typeof dispatchInput>;
