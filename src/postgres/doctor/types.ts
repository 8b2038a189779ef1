import type pg from 'pg';

import type { Features } from '../features.js';

/**
 * Outcome of one check. `no permission` means that the role cannot read
 * what the check needs. `error` means that the check could not finish (a
 * timeout, a lock, a server error), and its message gives the reason.
 */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'n/a' | 'no permission' | 'error';

export type CheckGroup =
  | 'settings'
  | 'replication'
  | 'space'
  | 'cache'
  | 'indexes'
  | 'activity'
  | 'maintenance'
  | 'queries';

export interface CheckResult {
  /** Stable id such as `replication.slot_wal_status`. */
  id: string;
  group: CheckGroup;
  title: string;
  status: CheckStatus;
  /** The measured figure, such as `83.2%` or `3 slots`. */
  value: string | null;
  /** The threshold it was measured against, such as `warn ≥ 80%`. */
  threshold: string | null;
  /** One line: what was found. */
  message: string;
  /** One line: what to do about it; null when nothing needs doing. */
  fix: string | null;
  /** The findings behind the status, one object per object found. */
  rows: Record<string, unknown>[];
  durationMs: number;
}

/** The part of a result that a check computes; the runner adds id, group, title and timing. */
export type CheckOutcome = Omit<CheckResult, 'id' | 'group' | 'title' | 'durationMs'>;

export interface CheckContext {
  client: pg.Client;
  features: Features;
  thresholds: DoctorThresholds;
  /**
   * Runs `load` once per doctor run and shares its result, so checks that
   * read the same catalog rows (indexes, slots, activity) see one snapshot
   * and the catalog is read once.
   */
  shared<T>(key: string, load: () => Promise<T>): Promise<T>;
}

export interface CheckDefinition {
  id: string;
  group: CheckGroup;
  title: string;
  run(context: CheckContext): Promise<CheckOutcome>;
}

/** Every configurable threshold with its default; sizes in bytes, ages in seconds. */
export const DEFAULT_THRESHOLDS = {
  connectionsWarnPercent: 80,
  connectionsFailPercent: 95,
  slotRetainedWarnBytes: 1024 ** 3,
  standbyLagWarnBytes: 64 * 1024 ** 2,
  standbyLagFailBytes: 1024 ** 3,
  standbyLagWarnSeconds: 60,
  standbyLagFailSeconds: 600,
  tempBytesWarn: 10 * 1024 ** 3,
  bloatWarnBytes: 100 * 1024 ** 2,
  bloatWarnPercent: 30,
  cacheHitWarnPercent: 99,
  cacheMinBlocks: 10_000,
  seqScanMinRows: 10_000,
  seqScanIndexPercent: 95,
  unusedIndexMinBytes: 10 * 1024 ** 2,
  longQuerySeconds: 60,
  longQueryFailSeconds: 600,
  idleInTransactionSeconds: 60,
  idleInTransactionFailSeconds: 600,
  blockedSeconds: 10,
  xidAgeWarn: 650_000_000,
  xidAgeFail: 1_500_000_000,
  multixactAgeWarn: 650_000_000,
  multixactAgeFail: 1_500_000_000,
  maintenanceMinRows: 1000,
  vacuumAgeDays: 7,
  deadTupleWarnPercent: 20,
  sequenceWarnPercent: 85,
  sequenceFailPercent: 95,
  slowQueryMeanMs: 100,
  slowQueryMinCalls: 100,
};

export type DoctorThresholds = typeof DEFAULT_THRESHOLDS;

export interface DoctorReport {
  server: {
    version: string;
    versionNum: number;
    role: string;
    database: string;
    inRecovery: boolean;
    superuser: boolean;
    monitor: boolean;
    statements: string | null;
  };
  /** Count of checks per status. */
  summary: Record<CheckStatus, number>;
  /** Worst status among the checks (error and no permission rank below fail). */
  status: CheckStatus;
  checks: CheckResult[];
}
