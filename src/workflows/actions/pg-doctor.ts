import { UserError } from '../../core/errors.js';
import { runDoctor, type CheckStatus } from '../../postgres/index.js';
import type { ActionDefinition } from '../action.js';

const FAIL_LEVELS: Record<string, CheckStatus[]> = {
  fail: ['fail', 'error'],
  warn: ['fail', 'error', 'warn'],
  never: [],
};

const action: ActionDefinition = {
  name: 'pg/doctor',
  summary: 'run the PostgreSQL health checks of `opsbox pg doctor` on a server',
  description:
    'Connects to the URL (keep it in a secret), runs every check or the listed ones, writes a table to the run summary and fails the step on the chosen level.',
  inputs: {
    url: { description: 'a postgres:// URL', type: 'string', required: true },
    checks: { description: 'comma-separated check ids to run (default: all)', type: 'string' },
    'fail-on': {
      description: 'fail the step on checks with status fail (default), warn, or never',
      type: 'string',
      default: 'fail',
    },
  },
  outputs: {
    status: { description: 'the worst check status: ok, warn, fail, error, no permission or n/a' },
    summary: { description: 'the count of checks per status, as JSON' },
    report: { description: 'the full report, as JSON' },
  },
  async run({ inputs, log, summary }) {
    const failOn = FAIL_LEVELS[String(inputs['fail-on'])];
    if (!failOn)
      throw new UserError(
        'invalid',
        `Invalid fail-on "${inputs['fail-on']}": use fail, warn or never.`,
      );
    const only = inputs.checks
      ? String(inputs.checks)
          .split(',')
          .map((id) => id.trim())
          .filter(Boolean)
      : undefined;
    const report = await runDoctor({ url: String(inputs.url), env: {}, only });
    for (const check of report.checks)
      log(`${check.status.padEnd(13)} ${check.id}: ${check.title}`);
    summary(
      [
        `### PostgreSQL doctor: ${report.status}`,
        '',
        `Server ${report.server.version}, database ${report.server.database}.`,
        '',
        '| check | status |',
        '| --- | --- |',
        ...report.checks.map((check) => `| ${check.title} | ${check.status} |`),
        '',
      ].join('\n'),
    );
    const failed = report.checks.filter((check) => failOn.includes(check.status));
    if (failed.length > 0) {
      throw new UserError(
        'invalid',
        `PostgreSQL doctor found ${failed.length} check(s) at ${failOn.join('/')}: ${failed.map((check) => check.id).join(', ')}.`,
      );
    }
    return { status: report.status, summary: report.summary, report };
  },
};

export default action;
