import type pg from 'pg';

import type { Features } from '../features.js';
import { bytes, notApplicable, num, plural, seconds, worst } from './outcome.js';
import type { CheckDefinition, CheckStatus } from './types.js';

export interface SlotRow {
  slot_name: string;
  slot_type: string;
  database: string | null;
  active: boolean;
  active_pid: number | null;
  wal_status: string | null;
  /** Bytes of WAL between the slot's restart_lsn and the current position; null when the slot lost its WAL. */
  retained_bytes: number | null;
  safe_wal_size: number | null;
}

/**
 * The current WAL position: pg_current_wal_lsn() raises an error during
 * recovery, so a standby uses the last received (or replayed) position.
 */
export const CURRENT_LSN_SQL = `
  SELECT CASE WHEN pg_catalog.pg_is_in_recovery()
              THEN coalesce(pg_catalog.pg_last_wal_receive_lsn(), pg_catalog.pg_last_wal_replay_lsn())
              ELSE pg_catalog.pg_current_wal_lsn() END AS lsn`;

/** Reads every slot with the WAL it retains, choosing columns by what the server has. */
export async function readSlots(client: pg.Client, features: Features): Promise<SlotRow[]> {
  const has = (column: string) => features.columns.has(`pg_replication_slots.${column}`);
  const { rows: lsnRows } = await client.query(CURRENT_LSN_SQL);
  const { rows } = await client.query(
    `SELECT slot_name, slot_type, database, active, active_pid,
            ${has('wal_status') ? 'wal_status' : 'NULL::text AS wal_status'},
            ${has('safe_wal_size') ? 'safe_wal_size' : 'NULL::bigint AS safe_wal_size'},
            pg_catalog.pg_wal_lsn_diff($1::pg_lsn, restart_lsn) AS retained_bytes
       FROM pg_catalog.pg_replication_slots
      ORDER BY slot_name`,
    [lsnRows[0].lsn],
  );
  return rows.map((row) => ({
    ...row,
    // A lost slot has no restart_lsn: its retained bytes are unknown, not 0.
    retained_bytes: num(row.retained_bytes),
    safe_wal_size: num(row.safe_wal_size),
  }));
}

const slotsInactive: CheckDefinition = {
  id: 'replication.slot_inactive',
  group: 'replication',
  title: 'Inactive replication slots',
  async run({ shared, client, features }) {
    const slots = await shared('slots', () => readSlots(client, features));
    if (slots.length === 0) return notApplicable('No replication slots.');
    const inactive = slots.filter((slot) => !slot.active);
    return {
      status: inactive.length > 0 ? 'warn' : 'ok',
      value: `${inactive.length} of ${slots.length}`,
      threshold: 'no inactive slot',
      message:
        inactive.length > 0
          ? `${plural(inactive.length, 'slot')} without a consumer: ${inactive.map((slot) => slot.slot_name).join(', ')}; each keeps WAL and old row versions.`
          : slots.length === 1
            ? 'The only slot has a consumer.'
            : `All ${slots.length} slots have a consumer.`,
      fix:
        inactive.length > 0
          ? 'Reconnect the consumer, or drop the slot with opsbox pg slots drop NAME if it is abandoned.'
          : null,
      rows: inactive.map(slotDetail),
    };
  },
};

const slotsRetained: CheckDefinition = {
  id: 'replication.slot_retained_wal',
  group: 'replication',
  title: 'WAL retained by replication slots',
  async run({ shared, client, features, thresholds }) {
    const slots = await shared('slots', () => readSlots(client, features));
    if (slots.length === 0) return notApplicable('No replication slots.');
    const heavy = slots.filter(
      (slot) =>
        slot.retained_bytes !== null && slot.retained_bytes >= thresholds.slotRetainedWarnBytes,
    );
    const total = slots.reduce((sum, slot) => sum + (slot.retained_bytes ?? 0), 0);
    return {
      status: heavy.length > 0 ? 'warn' : 'ok',
      value: bytes(Math.max(0, ...slots.map((slot) => slot.retained_bytes ?? 0))),
      threshold: `warn ≥ ${bytes(thresholds.slotRetainedWarnBytes)} per slot`,
      message:
        heavy.length > 0
          ? `${plural(heavy.length, 'slot')} retaining at least ${bytes(thresholds.slotRetainedWarnBytes)} of WAL: ${heavy.map((slot) => `${slot.slot_name} ${bytes(slot.retained_bytes)}`).join(', ')}.`
          : `Slots retain ${bytes(total)} of WAL in total.`,
      fix:
        heavy.length > 0
          ? 'Catch the consumer up or drop the slot before the disk fills; set max_slot_wal_keep_size to cap it.'
          : null,
      rows: slots.map(slotDetail),
    };
  },
};

const slotsWalStatus: CheckDefinition = {
  id: 'replication.slot_wal_status',
  group: 'replication',
  title: 'Replication slots losing WAL',
  async run({ shared, client, features }) {
    if (!features.columns.has('pg_replication_slots.wal_status'))
      return notApplicable('This server has no pg_replication_slots.wal_status.');
    const slots = await shared('slots', () => readSlots(client, features));
    if (slots.length === 0) return notApplicable('No replication slots.');
    const lost = slots.filter((slot) => slot.wal_status === 'lost');
    const unreserved = slots.filter((slot) => slot.wal_status === 'unreserved');
    let status: CheckStatus = 'ok';
    if (unreserved.length > 0) status = 'warn';
    if (lost.length > 0) status = 'fail';
    const parts: string[] = [];
    if (lost.length > 0)
      parts.push(
        `lost (WAL already removed, the consumer cannot resume): ${lost.map((slot) => slot.slot_name).join(', ')}`,
      );
    if (unreserved.length > 0)
      parts.push(
        `unreserved (WAL will be removed at the next checkpoint): ${unreserved.map((slot) => slot.slot_name).join(', ')}`,
      );
    return {
      status,
      value: `${lost.length} lost, ${unreserved.length} unreserved`,
      threshold: 'wal_status reserved or extended',
      message:
        parts.length > 0
          ? `Slots ${parts.join('; ')}.`
          : `No slot is losing WAL (${plural(slots.length, 'slot')} checked).`,
      fix:
        lost.length > 0
          ? 'Drop the lost slot (opsbox pg slots drop NAME) and rebuild its consumer from a fresh copy.'
          : unreserved.length > 0
            ? 'Catch the consumer up now, or raise max_slot_wal_keep_size.'
            : null,
      rows: [...lost, ...unreserved].map(slotDetail),
    };
  },
};

function slotDetail(slot: SlotRow): Record<string, unknown> {
  return {
    slot: slot.slot_name,
    type: slot.slot_type,
    database: slot.database,
    active: slot.active,
    wal_status: slot.wal_status,
    retained_bytes: slot.retained_bytes,
    safe_wal_size: slot.safe_wal_size,
  };
}

const standbys: CheckDefinition = {
  id: 'replication.standbys',
  group: 'replication',
  title: 'Standbys streaming from this server',
  async run({ shared, client, features, thresholds }) {
    if (features.inRecovery)
      return notApplicable('This server is a standby; see replication.standby_lag.');
    const { rows } = await client.query(`
      SELECT application_name, client_addr::text, state, sync_state,
             pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), replay_lsn) AS replay_lag_bytes,
             extract(epoch FROM replay_lag)::float8 AS replay_lag_seconds
        FROM pg_catalog.pg_stat_replication`);
    if (rows.length === 0) return notApplicable('No standby is connected.');
    if (rows.every((row) => row.state === null)) {
      return {
        status: 'no permission',
        value: `${rows.length} hidden`,
        threshold: null,
        message: `${plural(rows.length, 'standby')} connected, but the role cannot read their state.`,
        fix: 'GRANT pg_monitor TO the role running opsbox.',
        rows: [],
      };
    }
    const statuses = rows.map((row) =>
      lagStatus(num(row.replay_lag_bytes), num(row.replay_lag_seconds), thresholds),
    );
    const maxBytes = Math.max(...rows.map((row) => num(row.replay_lag_bytes) ?? 0));
    return {
      status: worst(statuses),
      value: bytes(maxBytes),
      threshold: `warn ≥ ${bytes(thresholds.standbyLagWarnBytes)} or ${thresholds.standbyLagWarnSeconds} s`,
      message: `${plural(rows.length, 'standby')} connected; the furthest behind is ${bytes(maxBytes)} from replay.`,
      fix:
        worst(statuses) === 'ok'
          ? null
          : 'Check the standby for I/O load, long queries holding replay (hot_standby_feedback, max_standby_streaming_delay) or a slow network.',
      rows: rows.map((row, index) => ({
        ...row,
        replay_lag_bytes: num(row.replay_lag_bytes),
        status: statuses[index],
      })),
    };
  },
};

function lagStatus(
  lagBytes: number | null,
  lagSeconds: number | null,
  thresholds: Parameters<CheckDefinition['run']>[0]['thresholds'],
): CheckStatus {
  if (
    (lagBytes ?? 0) >= thresholds.standbyLagFailBytes ||
    (lagSeconds ?? 0) >= thresholds.standbyLagFailSeconds
  )
    return 'fail';
  if (
    (lagBytes ?? 0) >= thresholds.standbyLagWarnBytes ||
    (lagSeconds ?? 0) >= thresholds.standbyLagWarnSeconds
  )
    return 'warn';
  return 'ok';
}

const standbyLag: CheckDefinition = {
  id: 'replication.standby_lag',
  group: 'replication',
  title: 'Standby replay lag',
  async run({ shared, client, features, thresholds }) {
    if (!features.inRecovery) return notApplicable('This server is not a standby.');
    // Time since the last replayed transaction grows while the primary is
    // idle, so it counts only when received WAL is still waiting for replay.
    const { rows } = await client.query(`
      SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_last_wal_receive_lsn(), pg_catalog.pg_last_wal_replay_lsn()) AS replay_bytes,
             extract(epoch FROM now() - pg_catalog.pg_last_xact_replay_timestamp())::float8 AS since_last_replay,
             pg_catalog.pg_is_wal_replay_paused() AS paused`);
    const row = rows[0];
    const replayBytes = num(row.replay_bytes);
    const waiting = replayBytes !== null && replayBytes > 0;
    const lagSeconds = waiting ? num(row.since_last_replay) : 0;
    const status = row.paused ? 'warn' : lagStatus(replayBytes, lagSeconds, thresholds);
    let fix: string | null = null;
    if (row.paused) fix = 'SELECT pg_wal_replay_resume();';
    else if (status !== 'ok')
      fix = 'Look for long queries on the standby that conflict with replay, or I/O saturation.';
    return {
      status,
      value: `${bytes(replayBytes)}, ${seconds(lagSeconds ?? 0)}`,
      threshold: `warn ≥ ${bytes(thresholds.standbyLagWarnBytes)} or ${thresholds.standbyLagWarnSeconds} s; fail ≥ ${bytes(thresholds.standbyLagFailBytes)} or ${thresholds.standbyLagFailSeconds} s`,
      message: row.paused
        ? 'WAL replay is paused.'
        : waiting
          ? `${bytes(replayBytes)} received but not replayed; replay is ${seconds(lagSeconds ?? 0)} behind.`
          : 'Replay has caught up with the received WAL.',
      fix,
      rows: [
        {
          replay_lag_bytes: replayBytes,
          replay_lag_seconds: lagSeconds,
          seconds_since_last_replayed_transaction: num(row.since_last_replay),
          paused: row.paused,
        },
      ],
    };
  },
};

const walReceiver: CheckDefinition = {
  id: 'replication.wal_receiver',
  group: 'replication',
  title: 'WAL receiver on the standby',
  async run({ shared, client, features }) {
    if (!features.inRecovery) return notApplicable('This server is not a standby.');
    const { rows } = await client.query(`
      SELECT pid, status, sender_host, sender_port, slot_name,
             extract(epoch FROM now() - last_msg_receipt_time)::float8 AS silent_seconds
        FROM pg_catalog.pg_stat_wal_receiver`);
    if (rows.length === 0) {
      return {
        status: 'fail',
        value: 'not running',
        threshold: 'streaming',
        message:
          'No WAL receiver is running: the standby receives nothing from the primary (or it replays from an archive only).',
        fix: 'Check primary_conninfo and the standby log; the primary may be down or reject the connection.',
        rows: [],
      };
    }
    const row = rows[0];
    if (row.status === null) {
      return {
        status: 'no permission',
        value: null,
        threshold: 'streaming',
        message: 'A WAL receiver runs, but the role cannot read its status.',
        fix: 'GRANT pg_monitor TO the role running opsbox.',
        rows: [],
      };
    }
    const streaming = row.status === 'streaming';
    return {
      status: streaming ? 'ok' : 'fail',
      value: row.status,
      threshold: 'streaming',
      message: streaming
        ? `Streaming from ${row.sender_host}:${row.sender_port}${row.slot_name ? ` through slot ${row.slot_name}` : ''}; last message ${seconds(num(row.silent_seconds) ?? 0)} ago.`
        : `The WAL receiver is ${row.status}, not streaming.`,
      fix: streaming ? null : 'Check the standby log and that the primary is reachable.',
      rows: [
        {
          pid: row.pid,
          status: row.status,
          sender_host: row.sender_host,
          sender_port: row.sender_port,
          slot_name: row.slot_name,
          silent_seconds: num(row.silent_seconds),
        },
      ],
    };
  },
};

export const REPLICATION_CHECKS: CheckDefinition[] = [
  slotsInactive,
  slotsRetained,
  slotsWalStatus,
  standbys,
  standbyLag,
  walReceiver,
];
