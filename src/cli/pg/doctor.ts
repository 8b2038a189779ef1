import pc from 'picocolors';

import {
  ALL_CHECKS,
  DEFAULT_THRESHOLDS,
  runDoctor,
  type CheckStatus,
  type DoctorReport,
} from '../../postgres/index.js';
import type { CommandSpec } from '../command.js';
import { printJson, printTable } from '../output.js';
import { CONNECTION_OPTIONS, connectionOptions, JSON_OPTION } from './common.js';
import { parseThresholds } from './thresholds.js';

const STATUS_COLOR: Record<CheckStatus, (text: string) => string> = {
  ok: pc.green,
  warn: pc.yellow,
  fail: pc.red,
  'n/a': pc.dim,
  'no permission': pc.magenta,
  error: pc.red,
};

function printReport(report: DoctorReport): void {
  const server = report.server;
  process.stdout.write(
    `PostgreSQL ${server.version} (${server.inRecovery ? 'standby' : 'primary'}), database ${server.database}, role ${server.role}` +
      `${server.superuser ? ' (superuser)' : server.monitor ? ' (pg_monitor)' : ''}\n`,
  );
  const color = process.stdout.isTTY
    ? (status: CheckStatus) => STATUS_COLOR[status](status)
    : (status: CheckStatus) => status;
  printTable(
    ['check', 'status', 'value', 'threshold'],
    report.checks.map((check) => [
      check.id,
      color(check.status),
      check.value ?? '',
      check.threshold ?? '',
    ]),
  );
  // Findings and fixes are long sentences, so they follow the table instead of widening it.
  for (const check of report.checks.filter(
    (item) => item.status !== 'ok' && item.status !== 'n/a',
  )) {
    process.stdout.write(`\n${color(check.status)} ${check.id}: ${check.message}\n`);
    if (check.fix) process.stdout.write(`  fix: ${check.fix}\n`);
  }
  process.stdout.write('\n');
  const counts = Object.entries(report.summary)
    .filter(([, count]) => count > 0)
    .map(([status, count]) => `${count} ${status}`);
  process.stdout.write(`${counts.join(', ')}\n`);
}

export const doctorCommand: CommandSpec = {
  name: 'doctor [url]',
  summary:
    'Run the health checks: settings, replication, space, cache, indexes, activity, maintenance, queries',
  description:
    'Runs every check on one connection and prints its status (ok, warn, fail, n/a, no permission, error), the measured value, ' +
    'the threshold and a fix. A check the role cannot run is marked and the others still run. Exits 1 when a check fails.',
  options: [
    ...CONNECTION_OPTIONS,
    {
      flags: '--threshold <name=value>',
      description:
        'override a threshold, such as longQuerySeconds=30 or slotRetainedWarnBytes=5GB (repeatable)',
      repeatable: true,
    },
    {
      flags: '--only <check>',
      description:
        'run only this check id or group, such as indexes or replication.slot_inactive (repeatable)',
      repeatable: true,
    },
    { flags: '--list', description: 'list the checks and thresholds without connecting' },
    JSON_OPTION,
  ],
  async run(input) {
    const options = input.options;
    if (options.list) {
      if (options.json)
        printJson({
          checks: ALL_CHECKS.map(({ id, group, title }) => ({ id, group, title })),
          thresholds: DEFAULT_THRESHOLDS,
        });
      else {
        printTable(
          ['check', 'group', 'title'],
          ALL_CHECKS.map((check) => [check.id, check.group, check.title]),
        );
        printTable(['threshold', 'default'], Object.entries(DEFAULT_THRESHOLDS));
      }
      return;
    }
    const report = await runDoctor({
      ...connectionOptions(input, input.args[0]),
      thresholds: parseThresholds(options.threshold ?? []),
      only: options.only,
    });
    if (options.json) printJson(report);
    else printReport(report);
    if (report.summary.fail > 0) process.exitCode = 1;
  },
};
