import { UserError } from '../core/errors.js';
import { withSession, type ConnectionOptions } from './connection.js';
import {
  readCacheRatios,
  findDuplicateIndexes,
  readForeignKeysWithoutIndex,
  readIndexes,
  readIndexUsage,
  type CacheRatio,
  type DuplicateIndex,
  type ForeignKeyWithoutIndex,
  type IndexRow,
  type TableScanRow,
} from './doctor/indexes.js';
import { CURRENT_LSN_SQL, readSlots, type SlotRow } from './doctor/replication.js';
import {
  readDatabaseSizes,
  readRelationSizes,
  type DatabaseSize,
  type RelationSize,
} from './doctor/space.js';
import { sqlState, SQLSTATE } from './errors.js';
import { detectFeatures } from './features.js';

export type {
  CacheRatio,
  DatabaseSize,
  DuplicateIndex,
  ForeignKeyWithoutIndex,
  IndexRow,
  RelationSize,
  SlotRow,
  TableScanRow,
};

export interface SizesReport {
  databases: DatabaseSize[];
  tables: RelationSize[];
}

/** Reads the database sizes of the cluster and the largest tables of the current database. */
export async function readSizes(
  options: ConnectionOptions & { limit?: number },
): Promise<SizesReport> {
  return withSession(options, async (session) => ({
    databases: await readDatabaseSizes(session.client),
    tables: await readRelationSizes(session.client, options.limit ?? 20),
  }));
}

export interface IndexesReport {
  indexes: IndexRow[];
  unused: IndexRow[];
  duplicates: DuplicateIndex[];
  invalid: IndexRow[];
  foreignKeysWithoutIndex: ForeignKeyWithoutIndex[];
  tables: TableScanRow[];
}

/** Reads every index of the current database with its scans, and picks out the unused, duplicate and invalid ones. */
export async function readIndexReport(options: ConnectionOptions): Promise<IndexesReport> {
  return withSession(options, async (session) => {
    const indexes = await readIndexes(session.client);
    return {
      indexes,
      unused: indexes.filter((index) => index.scans === 0 && !index.unique && !index.constraint),
      duplicates: findDuplicateIndexes(indexes),
      invalid: indexes.filter((index) => !index.valid),
      foreignKeysWithoutIndex: await readForeignKeysWithoutIndex(session.client),
      tables: await readIndexUsage(session.client),
    };
  });
}

/** Reads the cache hit ratios of the databases and of the busiest tables and indexes. */
export async function readCache(
  options: ConnectionOptions & { limit?: number },
): Promise<CacheRatio[]> {
  return withSession(options, async (session) =>
    readCacheRatios(session.client, options.limit ?? 20),
  );
}

export interface StandbyInfo {
  application_name: string | null;
  client_addr: string | null;
  state: string | null;
  sync_state: string | null;
  sent_lag_bytes: number | null;
  replay_lag_bytes: number | null;
  replay_lag_seconds: number | null;
}

export interface ReplicationReport {
  role: 'primary' | 'standby';
  /** Current WAL position: the write position on a primary, the last received one on a standby. */
  lsn: string | null;
  slots: SlotRow[];
  /** Standbys streaming from this server (primary, or a cascading standby). */
  standbys: StandbyInfo[];
  /** Present on a standby. */
  receiver?: {
    status: string | null;
    sender: string | null;
    slot: string | null;
    receive_lsn: string | null;
    replay_lsn: string | null;
    replay_lag_bytes: number | null;
    seconds_since_last_replay: number | null;
    paused: boolean;
  };
}

/** Reads the replication state: slots, connected standbys and, on a standby, the WAL receiver. */
export async function readReplication(options: ConnectionOptions): Promise<ReplicationReport> {
  return withSession(options, async (session) => {
    const client = session.client;
    const features = await detectFeatures(client);
    const lsn = (await client.query(CURRENT_LSN_SQL)).rows[0].lsn;
    const standbys = await client.query(
      `SELECT application_name, client_addr::text, state, sync_state,
              pg_catalog.pg_wal_lsn_diff($1::pg_lsn, sent_lsn)::float8 AS sent_lag_bytes,
              pg_catalog.pg_wal_lsn_diff($1::pg_lsn, replay_lsn)::float8 AS replay_lag_bytes,
              extract(epoch FROM replay_lag)::float8 AS replay_lag_seconds
         FROM pg_catalog.pg_stat_replication ORDER BY application_name`,
      [lsn],
    );
    const report: ReplicationReport = {
      role: features.inRecovery ? 'standby' : 'primary',
      lsn,
      slots: await readSlots(client, features),
      standbys: standbys.rows,
    };
    if (features.inRecovery) {
      const { rows } = await client.query(`
        SELECT r.status, r.sender_host || ':' || r.sender_port AS sender, r.slot_name AS slot,
               pg_catalog.pg_last_wal_receive_lsn()::text AS receive_lsn, pg_catalog.pg_last_wal_replay_lsn()::text AS replay_lsn,
               pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_last_wal_receive_lsn(), pg_catalog.pg_last_wal_replay_lsn())::float8 AS replay_lag_bytes,
               extract(epoch FROM now() - pg_catalog.pg_last_xact_replay_timestamp())::float8 AS seconds_since_last_replay,
               pg_catalog.pg_is_wal_replay_paused() AS paused
          FROM (SELECT 1) one LEFT JOIN pg_catalog.pg_stat_wal_receiver r ON true`);
      report.receiver = rows[0];
    }
    return report;
  });
}

/** Drops a replication slot; an active slot is refused, since its consumer is still using it. */
export async function dropSlot(options: ConnectionOptions & { name: string }): Promise<SlotRow> {
  return withSession(options, async (session) => {
    const features = await detectFeatures(session.client);
    const slot = (await readSlots(session.client, features)).find(
      (item) => item.slot_name === options.name,
    );
    if (!slot) {
      throw new UserError(
        'not_found',
        `Replication slot "${options.name}" not found on ${session.target.display}; list slots with opsbox pg replication.`,
        { code: 'PG_SLOT_NOT_FOUND' },
      );
    }
    if (slot.active) {
      throw new UserError(
        'conflict',
        `Replication slot "${options.name}" is in use by pid ${slot.active_pid}; stop its consumer first (opsbox pg terminate ${slot.active_pid}).`,
        { code: 'PG_SLOT_ACTIVE' },
      );
    }
    try {
      await session.client.query('SELECT pg_catalog.pg_drop_replication_slot($1)', [options.name]);
    } catch (error) {
      const state = sqlState(error);
      if (state === SQLSTATE.objectInUse) {
        throw new UserError(
          'conflict',
          `Replication slot "${options.name}" became active; stop its consumer first.`,
          { code: 'PG_SLOT_ACTIVE', cause: error },
        );
      }
      if (state === SQLSTATE.insufficientPrivilege) {
        throw new UserError(
          'permission',
          `Permission denied to drop slot "${options.name}"; connect as a superuser or a role with REPLICATION.`,
          { code: 'PG_PERMISSION', cause: error },
        );
      }
      throw error;
    }
    return slot;
  });
}
