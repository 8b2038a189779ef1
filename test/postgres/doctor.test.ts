import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  runDoctor,
  type CheckResult,
  type DoctorReport,
  type DoctorThresholds,
} from '../../src/postgres/index.js';
import { tempDir } from '../helpers/cli.js';
import { startCluster, startStandby, waitForReplay, type TestCluster } from './cluster.js';
import {
  createMonitorRole,
  loadSampleData,
  MONITOR_PASSWORD,
  MONITOR_ROLE,
  seedConditions,
  seedQuiet,
  startLiveSessions,
  type LiveSessions,
} from './seed.js';

/** Thresholds sized for the seeded conditions; production defaults are minutes and gigabytes. */
const THRESHOLDS: Partial<DoctorThresholds> = {
  longQuerySeconds: 1,
  idleInTransactionSeconds: 1,
  blockedSeconds: 1,
  unusedIndexMinBytes: 1024 ** 2,
  slotRetainedWarnBytes: 1024 ** 2,
  tempBytesWarn: 1024 ** 2,
  bloatWarnBytes: 1024 ** 2,
  bloatWarnPercent: 20,
  cacheHitWarnPercent: 90,
  cacheMinBlocks: 5000,
};

function check(report: DoctorReport, id: string): CheckResult {
  const found = report.checks.find((item) => item.id === id);
  assert.ok(found, `check ${id} missing from the report`);
  return found;
}

function statuses(report: DoctorReport): Record<string, string> {
  return Object.fromEntries(report.checks.map((item) => [item.id, item.status]));
}

function names(result: CheckResult, key: string): unknown[] {
  return result.rows.map((row) => row[key]);
}

describe('pg doctor on PostgreSQL 15 (primary and standby)', () => {
  const temp = tempDir('pg-doctor');
  let primary: TestCluster;
  let standby: TestCluster;
  let live: LiveSessions;
  let quiet: DoctorReport;
  let passed = true;

  before(async () => {
    primary = await startCluster(temp.dir, 'primary', { settings: { track_io_timing: 'on' } });
    await seedQuiet(primary, 'quiet');
    quiet = await runDoctor({ url: primary.url('quiet'), thresholds: THRESHOLDS });

    await loadSampleData(primary, 'sakila', { chinook: true, pagila: true });
    await seedConditions(primary, 'sakila');
    await createMonitorRole(primary);
    standby = await startStandby(temp.dir, 'standby', primary);
    await standby.psql(`SELECT pg_create_physical_replication_slot('standby_local_slot', true)`);
    await waitForReplay(primary, standby);
    live = await startLiveSessions(primary, 'sakila');
    // Statistics reach the shared counters when a session ends or after 1 s; the live sessions must also age past 1 s.
    await new Promise((resolve) => setTimeout(resolve, 1500));
  });

  after(async () => {
    await live?.close();
    await standby?.stop();
    await primary?.stop();
    temp.cleanup(passed);
  });

  test('clean database stays quiet', () => {
    assert.deepEqual(statuses(quiet), {
      'settings.wal_level': 'ok',
      'settings.logical_replication': 'ok',
      'settings.connections': 'ok',
      'settings.track_io_timing': 'ok',
      'replication.slot_inactive': 'n/a',
      'replication.slot_retained_wal': 'n/a',
      'replication.slot_wal_status': 'n/a',
      'replication.standbys': 'n/a',
      'replication.standby_lag': 'n/a',
      'replication.wal_receiver': 'n/a',
      'space.database_sizes': 'ok',
      'space.relation_sizes': 'ok',
      'space.temp_files': 'ok',
      'space.table_bloat': 'ok',
      'space.index_bloat': 'ok',
      'cache.hit_ratio': 'ok',
      'indexes.table_without_index': 'ok',
      'indexes.sequential_scans': 'ok',
      'indexes.unused': 'ok',
      'indexes.duplicate': 'ok',
      'indexes.invalid': 'ok',
      'indexes.foreign_key_without_index': 'ok',
      'activity.long_running': 'ok',
      'activity.idle_in_transaction': 'ok',
      'activity.blocked': 'ok',
      'maintenance.wraparound': 'ok',
      'maintenance.vacuum_age': 'ok',
      'maintenance.dead_tuples': 'ok',
      'maintenance.sequences': 'ok',
      'queries.top': 'ok',
    });
    assert.equal(quiet.status, 'ok');
  });

  for (const role of ['superuser', 'pg_monitor'] as const) {
    test(`seeded conditions fire as ${role}`, async () => {
      const url =
        role === 'superuser'
          ? primary.url('sakila')
          : primary.url('sakila', MONITOR_ROLE, MONITOR_PASSWORD);
      const report = await runDoctor({ url, thresholds: THRESHOLDS });
      assert.equal(report.server.inRecovery, false);
      assert.equal(report.server.superuser, role === 'superuser');
      assert.equal(report.server.monitor, true);

      assert.equal(check(report, 'replication.slot_inactive').status, 'warn');
      assert.deepEqual(names(check(report, 'replication.slot_inactive'), 'slot'), [
        'stale_logical',
      ]);
      const retained = check(report, 'replication.slot_retained_wal');
      assert.equal(retained.status, 'warn');
      const staleSlot = retained.rows.find((row) => row.slot === 'stale_logical')!;
      assert.ok(
        (staleSlot.retained_bytes as number) > 1024 ** 2,
        `stale_logical retains ${staleSlot.retained_bytes} bytes`,
      );
      assert.equal(check(report, 'replication.slot_wal_status').status, 'ok');
      assert.equal(check(report, 'replication.standbys').status, 'ok');
      assert.deepEqual(names(check(report, 'replication.standbys'), 'state'), ['streaming']);

      assert.equal(check(report, 'space.temp_files').status, 'warn');
      assert.equal(check(report, 'cache.hit_ratio').status, 'warn');
      assert.ok(names(check(report, 'cache.hit_ratio'), 'name').includes('public.cold_table'));

      assert.equal(check(report, 'indexes.table_without_index').status, 'warn');
      assert.deepEqual(names(check(report, 'indexes.table_without_index'), 'table'), ['no_index']);
      assert.equal(check(report, 'indexes.table_without_index').rows[0]!.idx_scan, null);
      assert.ok(names(check(report, 'indexes.sequential_scans'), 'table').includes('seq_only'));
      assert.equal(check(report, 'indexes.unused').status, 'warn');
      assert.ok(
        names(check(report, 'indexes.unused'), 'index').includes('wide_rows_payload_unused'),
      );
      const duplicates = check(report, 'indexes.duplicate');
      assert.equal(duplicates.status, 'warn');
      assert.deepEqual(
        duplicates.rows.map((row) => [row.schema, row.index, row.covered_by]),
        [['public', 'payment_customer_dup', 'idx_fk_customer_id']],
      );
      assert.equal(check(report, 'indexes.invalid').status, 'fail');
      assert.deepEqual(names(check(report, 'indexes.invalid'), 'index'), [
        'duplicate_values_v_invalid',
      ]);
      assert.ok(
        names(check(report, 'indexes.foreign_key_without_index'), 'table').includes('film_note'),
      );

      const long = check(report, 'activity.long_running');
      assert.equal(long.status, 'warn');
      assert.ok(names(long, 'pid').includes(live.pids.longQuery));
      const idle = check(report, 'activity.idle_in_transaction');
      assert.equal(idle.status, 'warn');
      assert.deepEqual(names(idle, 'pid'), [live.pids.idle]);
      const blocked = check(report, 'activity.blocked');
      assert.equal(blocked.status, 'warn');
      assert.deepEqual(names(blocked, 'pid'), [live.pids.blocked]);
      assert.deepEqual(blocked.rows[0]!.blocked_by, [live.pids.idle]);

      assert.equal(check(report, 'maintenance.wraparound').status, 'ok');
      assert.equal(check(report, 'maintenance.vacuum_age').status, 'warn');
      assert.equal(check(report, 'maintenance.dead_tuples').status, 'warn');
      assert.ok(
        names(check(report, 'maintenance.dead_tuples'), 'table').includes('pgbench_accounts'),
      );
      assert.equal(check(report, 'queries.top').status, 'ok');
      assert.ok(check(report, 'queries.top').rows.length > 0);

      const sequences = check(report, 'maintenance.sequences');
      if (role === 'superuser') {
        assert.equal(check(report, 'space.table_bloat').status, 'warn');
        assert.ok(names(check(report, 'space.table_bloat'), 'name').includes('pgbench_accounts'));
        assert.equal(check(report, 'space.index_bloat').status, 'warn');
        assert.equal(sequences.status, 'fail');
        const ticket = sequences.rows.find((row) => row.sequence === 'ticket_seq')!;
        assert.equal(ticket.limited_by, 'column type');
        assert.equal(ticket.limit, '2147483647');
        assert.equal(ticket.used_percent, 97.7888);
      } else {
        // pg_monitor cannot read sequence values or other roles' column statistics.
        assert.equal(check(report, 'space.table_bloat').status, 'no permission');
        assert.equal(check(report, 'space.index_bloat').status, 'no permission');
        assert.equal(sequences.status, 'no permission');
        assert.equal(sequences.value, 'unreadable');
        const ticket = sequences.rows.find((row) => row.sequence === 'ticket_seq')!;
        assert.equal(ticket.readable, false);
        assert.equal(ticket.used_percent, null);
      }
    });
  }

  test('role without pg_monitor', async () => {
    await primary.psql(`CREATE ROLE plain_login LOGIN PASSWORD 'plain-secret'`);
    const report = await runDoctor({
      url: primary.url('sakila', 'plain_login', 'plain-secret'),
      thresholds: THRESHOLDS,
    });
    assert.equal(report.server.monitor, false);
    for (const id of [
      'activity.long_running',
      'activity.idle_in_transaction',
      'activity.blocked',
      'replication.standbys',
      'queries.top',
      'maintenance.sequences',
    ]) {
      assert.equal(
        check(report, id).status,
        'no permission',
        `${id}: ${check(report, id).message}`,
      );
    }
    assert.match(
      check(report, 'activity.idle_in_transaction').message,
      /sessions? of other roles hidden \(grant pg_monitor to see them\)\.$/,
    );
    assert.equal(check(report, 'indexes.invalid').status, 'fail');
    for (const item of report.checks)
      assert.notEqual(item.status, 'error', `${item.id}: ${item.message}`);
  });

  test('thresholds make quiet checks fire', async () => {
    const report = await runDoctor({
      url: primary.url('sakila'),
      only: ['maintenance.wraparound', 'queries.top', 'settings.connections'],
      thresholds: {
        xidAgeWarn: 100,
        multixactAgeWarn: 100,
        slowQueryMeanMs: 0,
        slowQueryMinCalls: 1,
        connectionsWarnPercent: 1,
      },
    });
    assert.deepEqual(statuses(report), {
      'settings.connections': 'warn',
      'maintenance.wraparound': 'warn',
      'queries.top': 'warn',
    });
  });

  for (const role of ['superuser', 'pg_monitor'] as const) {
    test(`standby paths as ${role}`, async () => {
      const url =
        role === 'superuser'
          ? standby.url('sakila')
          : standby.url('sakila', MONITOR_ROLE, MONITOR_PASSWORD);
      const report = await runDoctor({ url, thresholds: THRESHOLDS });
      assert.equal(report.server.inRecovery, true);
      assert.equal(check(report, 'replication.standby_lag').status, 'ok');
      assert.equal(check(report, 'replication.wal_receiver').status, 'ok');
      assert.equal(check(report, 'replication.wal_receiver').rows[0]!.slot_name, 'standby_slot');
      assert.equal(check(report, 'replication.standbys').status, 'n/a');
      assert.deepEqual(names(check(report, 'replication.slot_inactive'), 'slot'), [
        'standby_local_slot',
      ]);
      assert.equal(
        typeof check(report, 'replication.slot_retained_wal').rows[0]!.retained_bytes,
        'number',
      );
      assert.deepEqual(names(check(report, 'indexes.invalid'), 'index'), [
        'duplicate_values_v_invalid',
      ]);
      assert.equal(
        check(report, 'maintenance.sequences').status,
        role === 'superuser' ? 'fail' : 'no permission',
      );
      for (const item of report.checks)
        assert.notEqual(item.status, 'error', `${item.id}: ${item.message}`);
    });
  }

  test('paused replay and a dead WAL receiver', async () => {
    await standby.psql('SELECT pg_wal_replay_pause()');
    await primary.psql(
      'CREATE TABLE after_pause AS SELECT g FROM generate_series(1, 10000) g',
      'sakila',
    );
    for (let attempt = 0; attempt < 50; attempt++) {
      if (
        (await standby.psql('SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()')) === 't'
      )
        break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const paused = await runDoctor({ url: standby.url('sakila'), only: ['replication'] });
    assert.equal(check(paused, 'replication.standby_lag').status, 'warn');
    assert.equal(check(paused, 'replication.standby_lag').message, 'WAL replay is paused.');
    assert.ok((check(paused, 'replication.standby_lag').rows[0]!.replay_lag_bytes as number) > 0);
    await standby.psql('SELECT pg_wal_replay_resume()');

    const conninfo = await standby.psql('SHOW primary_conninfo');
    await standby.psql(`ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port=1 user=postgres'`);
    await standby.psql('SELECT pg_reload_conf()');
    for (let attempt = 0; attempt < 100; attempt++) {
      if (
        (await standby.psql(
          `SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'`,
        )) === '0'
      )
        break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const dead = await runDoctor({
      url: standby.url('sakila'),
      only: ['replication.wal_receiver'],
    });
    assert.equal(check(dead, 'replication.wal_receiver').status, 'fail');
    await standby.psql(`ALTER SYSTEM SET primary_conninfo = '${conninfo.replace(/'/g, "''")}'`);
    await standby.psql('SELECT pg_reload_conf()');
  });

  test('lost slot is a failure, not 0 bytes', async () => {
    await primary.psql(`ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'`);
    await primary.psql('SELECT pg_reload_conf()');
    for (let round = 0; round < 3; round++) {
      await primary.psql(
        `CREATE TABLE wal_burn_${round} AS SELECT g, md5(g::text) FROM generate_series(1, 100000) g; SELECT pg_switch_wal()`,
        'sakila',
      );
    }
    await primary.psql('CHECKPOINT');
    const report = await runDoctor({ url: primary.url('sakila'), only: ['replication'] });
    const walStatus = check(report, 'replication.slot_wal_status');
    assert.equal(walStatus.status, 'fail');
    const stale = walStatus.rows.find((row) => row.slot === 'stale_logical')!;
    assert.equal(stale.wal_status, 'lost');
    assert.equal(stale.retained_bytes, null);
    await primary.psql(`ALTER SYSTEM RESET max_slot_wal_keep_size`);
    await primary.psql('SELECT pg_reload_conf()');
  });

  test('locked table times out one check only', async () => {
    const locker = await primary.client('sakila');
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE film IN ACCESS EXCLUSIVE MODE');
      const report = await runDoctor({
        url: primary.url('sakila'),
        lockTimeoutMs: 300,
        only: ['space', 'maintenance.wraparound'],
      });
      assert.equal(check(report, 'space.relation_sizes').status, 'error');
      assert.match(check(report, 'space.relation_sizes').message, /Timed out waiting for a lock/);
      assert.equal(check(report, 'space.database_sizes').status, 'ok');
      assert.equal(check(report, 'maintenance.wraparound').status, 'ok');
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
  });
});
