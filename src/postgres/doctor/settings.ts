import { num, percent } from './outcome.js';
import type { CheckDefinition } from './types.js';

const walLevel: CheckDefinition = {
  id: 'settings.wal_level',
  group: 'settings',
  title: 'WAL level',
  async run({ client }) {
    const { rows } = await client.query(`SELECT current_setting('wal_level') AS wal_level`);
    const level = rows[0].wal_level as string;
    const ok = level !== 'minimal';
    return {
      status: ok ? 'ok' : 'warn',
      value: level,
      threshold: 'replica or logical',
      message: ok
        ? `wal_level is ${level}.`
        : 'wal_level is minimal: no standby, no point-in-time recovery and no pg_basebackup.',
      fix: ok ? null : "ALTER SYSTEM SET wal_level = 'replica'; then restart the server.",
      rows: [],
    };
  },
};

const logicalReplication: CheckDefinition = {
  id: 'settings.logical_replication',
  group: 'settings',
  title: 'Logical replication readiness',
  async run({ client }) {
    const { rows } = await client.query(`
      SELECT current_setting('wal_level') AS wal_level,
             current_setting('max_replication_slots')::int AS max_slots,
             current_setting('max_wal_senders')::int AS max_senders,
             (SELECT count(*) FROM pg_catalog.pg_replication_slots)::int AS used_slots`);
    const row = rows[0];
    const problems: string[] = [];
    if (row.wal_level !== 'logical') problems.push(`wal_level is ${row.wal_level}, not logical`);
    if (row.max_slots <= row.used_slots)
      problems.push(`all ${row.max_slots} replication slots are in use`);
    if (row.max_senders === 0) problems.push('max_wal_senders is 0');
    const ready = problems.length === 0;
    return {
      status: ready ? 'ok' : 'warn',
      value: ready ? 'ready' : 'not ready',
      threshold: 'wal_level = logical, a free slot, max_wal_senders > 0',
      message: ready
        ? `Ready: ${row.max_slots - row.used_slots} of ${row.max_slots} slots free, max_wal_senders ${row.max_senders}.`
        : `Not ready for logical replication: ${problems.join('; ')}.`,
      fix: ready
        ? null
        : "ALTER SYSTEM SET wal_level = 'logical' (and raise max_replication_slots if full); then restart the server.",
      rows: [
        {
          wal_level: row.wal_level,
          max_replication_slots: row.max_slots,
          used_slots: row.used_slots,
          max_wal_senders: row.max_senders,
        },
      ],
    };
  },
};

const connections: CheckDefinition = {
  id: 'settings.connections',
  group: 'settings',
  title: 'Connections used of max_connections',
  async run({ client, thresholds }) {
    // backend_type is NULL for other roles' sessions without pg_read_all_stats,
    // so those rows count as client backends when they belong to a database.
    const { rows } = await client.query(`
      SELECT count(*) FILTER (WHERE backend_type = 'client backend' OR (backend_type IS NULL AND datid IS NOT NULL))::int AS used,
             current_setting('max_connections')::int AS max,
             current_setting('superuser_reserved_connections')::int AS reserved
        FROM pg_catalog.pg_stat_activity`);
    const { used, max, reserved } = rows[0];
    const share = (100 * used) / max;
    const status =
      share >= thresholds.connectionsFailPercent
        ? 'fail'
        : share >= thresholds.connectionsWarnPercent
          ? 'warn'
          : 'ok';
    return {
      status,
      value: percent(share),
      threshold: `warn ≥ ${thresholds.connectionsWarnPercent}%, fail ≥ ${thresholds.connectionsFailPercent}%`,
      message: `${used} of ${max} connections in use (${reserved} reserved for superusers).`,
      fix:
        status === 'ok'
          ? null
          : 'Put a connection pooler (PgBouncer) in front, or close idle sessions; raising max_connections costs memory.',
      rows: [{ used, max_connections: max, superuser_reserved_connections: reserved }],
    };
  },
};

const trackIoTiming: CheckDefinition = {
  id: 'settings.track_io_timing',
  group: 'settings',
  title: 'I/O timing',
  async run({ client }) {
    const { rows } = await client.query(`SELECT current_setting('track_io_timing') AS value`);
    const on = rows[0].value === 'on';
    return {
      status: on ? 'ok' : 'warn',
      value: rows[0].value,
      threshold: 'on',
      message: on
        ? 'track_io_timing is on: read and write times are recorded.'
        : 'track_io_timing is off: pg_stat_statements and EXPLAIN cannot show time spent on I/O.',
      fix: on
        ? null
        : 'ALTER SYSTEM SET track_io_timing = on; SELECT pg_reload_conf(); (check the timer cost with pg_test_timing first).',
      rows: [],
    };
  },
};

export const SETTINGS_CHECKS: CheckDefinition[] = [
  walLevel,
  logicalReplication,
  connections,
  trackIoTiming,
];

export { num };
