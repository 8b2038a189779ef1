import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  dumpDatabase,
  runDoctor,
  type CheckResult,
  type DoctorReport,
  type DoctorThresholds,
} from '../../src/postgres/index.js';
import { tempDir } from '../helpers/cli.js';
import {
  startCluster,
  startStandby,
  waitForReplay,
  type Major,
  type TestCluster,
} from './cluster.js';
import {
  createMonitorRole,
  loadPagila,
  loadSampleData,
  MONITOR_PASSWORD,
  MONITOR_ROLE,
  seedConditions,
  seedQuiet,
  startLiveSessions,
  type LiveSessions,
} from './seed.js';

const THRESHOLDS: Partial<DoctorThresholds> = {
  longQuerySeconds: 1,
  idleInTransactionSeconds: 1,
  blockedSeconds: 1,
  unusedIndexMinBytes: 1024 ** 2,
  slotRetainedWarnBytes: 1024 ** 2,
  tempBytesWarn: 1024 ** 2,
  cacheHitWarnPercent: 90,
  cacheMinBlocks: 5000,
};

/** pg_stat_statements version each major ships, which picks the columns read. */
const STATEMENTS_VERSION: Record<Major, string> = {
  13: '1.8',
  14: '1.9',
  15: '1.10',
  16: '1.10',
  17: '1.11',
  18: '1.12',
};

function check(report: DoctorReport, id: string): CheckResult {
  const found = report.checks.find((item) => item.id === id);
  assert.ok(found, `check ${id} missing`);
  return found;
}

const names = (result: CheckResult, key: string) => result.rows.map((row) => row[key]);

for (const major of [13, 14, 16, 17, 18] as Major[]) {
  describe(`pg doctor on PostgreSQL ${major}`, () => {
    const temp = tempDir(`pg${major}`);
    let primary: TestCluster;
    let standby: TestCluster;
    let live: LiveSessions;
    let quiet: DoctorReport;

    before(async () => {
      primary = await startCluster(temp.dir, 'primary', {
        major,
        settings: { track_io_timing: 'on' },
      });
      await seedQuiet(primary, 'quiet');
      quiet = await runDoctor({ url: primary.url('quiet'), thresholds: THRESHOLDS });
      await loadSampleData(primary, 'sakila');
      await loadPagila(primary);
      await seedConditions(primary, 'sakila');
      await createMonitorRole(primary);
      standby = await startStandby(temp.dir, 'standby', primary);
      await waitForReplay(primary, standby);
      live = await startLiveSessions(primary, 'sakila');
      await new Promise((resolve) => setTimeout(resolve, 1500));
    });

    after(async () => {
      await live?.close();
      await standby?.stop();
      await primary?.stop();
      temp.cleanup(true);
    });

    test('clean database stays quiet', () => {
      const loud = quiet.checks
        .filter((item) => item.status !== 'ok' && item.status !== 'n/a')
        .map((item) => `${item.id}: ${item.status}`);
      assert.deepEqual(loud, []);
      assert.equal(check(quiet, 'indexes.duplicate').status, 'ok');
      assert.equal(check(quiet, 'queries.top').status, 'ok');
    });

    for (const role of ['superuser', 'pg_monitor'] as const) {
      test(`primary as ${role}`, async () => {
        const url =
          role === 'superuser'
            ? primary.url('sakila')
            : primary.url('sakila', MONITOR_ROLE, MONITOR_PASSWORD);
        const report = await runDoctor({ url, thresholds: THRESHOLDS });
        assert.equal(Math.floor(report.server.versionNum / 10000), major);
        assert.equal(report.server.statements, STATEMENTS_VERSION[major]);
        for (const item of report.checks)
          assert.notEqual(item.status, 'error', `${item.id}: ${item.message}`);

        assert.deepEqual(names(check(report, 'replication.slot_inactive'), 'slot'), [
          'stale_logical',
        ]);
        assert.equal(check(report, 'replication.slot_retained_wal').status, 'warn');
        assert.equal(check(report, 'replication.standbys').status, 'ok');
        assert.deepEqual(names(check(report, 'indexes.table_without_index'), 'table'), [
          'no_index',
        ]);
        assert.ok(names(check(report, 'indexes.sequential_scans'), 'table').includes('seq_only'));
        assert.ok(
          names(check(report, 'indexes.unused'), 'index').includes('wide_rows_payload_unused'),
        );
        assert.deepEqual(
          check(report, 'indexes.duplicate').rows.map((row) => [row.index, row.covered_by]),
          [['payment_customer_dup', 'idx_fk_customer_id']],
        );
        assert.deepEqual(names(check(report, 'indexes.invalid'), 'index'), [
          'duplicate_values_v_invalid',
        ]);
        assert.ok(
          names(check(report, 'indexes.foreign_key_without_index'), 'table').includes('film_note'),
        );
        assert.ok(
          names(check(report, 'activity.long_running'), 'pid').includes(live.pids.longQuery),
        );
        assert.deepEqual(names(check(report, 'activity.idle_in_transaction'), 'pid'), [
          live.pids.idle,
        ]);
        assert.deepEqual(names(check(report, 'activity.blocked'), 'pid'), [live.pids.blocked]);
        assert.ok(
          names(check(report, 'maintenance.dead_tuples'), 'table').includes('pgbench_accounts'),
        );
        assert.ok(names(check(report, 'cache.hit_ratio'), 'name').includes('public.cold_table'));
        assert.equal(check(report, 'queries.top').status, 'ok');
        assert.ok(check(report, 'queries.top').rows.length > 0);
        assert.equal(
          check(report, 'maintenance.sequences').status,
          role === 'superuser' ? 'fail' : 'no permission',
        );
        assert.equal(
          check(report, 'space.table_bloat').status === 'no permission',
          role === 'pg_monitor',
        );
      });

      test(`standby as ${role}`, async () => {
        const url =
          role === 'superuser'
            ? standby.url('sakila')
            : standby.url('sakila', MONITOR_ROLE, MONITOR_PASSWORD);
        const report = await runDoctor({ url, thresholds: THRESHOLDS });
        assert.equal(report.server.inRecovery, true);
        for (const item of report.checks)
          assert.notEqual(item.status, 'error', `${item.id}: ${item.message}`);
        assert.equal(check(report, 'replication.standby_lag').status, 'ok');
        assert.equal(check(report, 'replication.wal_receiver').status, 'ok');
        assert.equal(check(report, 'replication.standbys').status, 'n/a');
        assert.deepEqual(names(check(report, 'indexes.invalid'), 'index'), [
          'duplicate_values_v_invalid',
        ]);
      });
    }

    if (major >= 16) {
      test('pg_dump older than the server is refused', async () => {
        await assert.rejects(
          dumpDatabase({
            url: primary.url('sakila'),
            output: path.join(temp.dir, 'never.dump'),
            pgBinDir: '/usr/lib/postgresql/15/bin',
          }),
          (error: Error & { kind?: string }) => {
            assert.equal(error.kind, 'unavailable');
            assert.match(
              error.message,
              new RegExp(
                `^The server runs PostgreSQL ${major}\\.\\d+ but the local pg_dump is 15\\.\\d+ \\(/usr/lib/postgresql/15/bin/pg_dump\\); install pg_dump ${major} or newer`,
              ),
            );
            return true;
          },
        );
      });
    }
  });
}
