import { UserError } from '../../core/errors.js';
import { withSession, type ConnectionOptions } from '../connection.js';
import { sqlState, SQLSTATE } from '../errors.js';
import { detectFeatures } from '../features.js';
import { ACTIVITY_CHECKS } from './activity.js';
import { CACHE_CHECKS, INDEX_CHECKS } from './indexes.js';
import { MAINTENANCE_CHECKS } from './maintenance.js';
import { REPLICATION_CHECKS } from './replication.js';
import { SETTINGS_CHECKS } from './settings.js';
import { SPACE_CHECKS } from './space.js';
import { STATEMENT_CHECKS } from './statements.js';
import {
  DEFAULT_THRESHOLDS,
  type CheckDefinition,
  type CheckResult,
  type CheckStatus,
  type DoctorReport,
  type DoctorThresholds,
} from './types.js';

/** Every check, in report order. */
export const ALL_CHECKS: CheckDefinition[] = [
  ...SETTINGS_CHECKS,
  ...REPLICATION_CHECKS,
  ...SPACE_CHECKS,
  ...CACHE_CHECKS,
  ...INDEX_CHECKS,
  ...ACTIVITY_CHECKS,
  ...MAINTENANCE_CHECKS,
  ...STATEMENT_CHECKS,
];

export interface DoctorOptions extends ConnectionOptions {
  /** Overrides of DEFAULT_THRESHOLDS. */
  thresholds?: Partial<DoctorThresholds>;
  /** Run only checks whose id or group is listed (`indexes`, `replication.slot_inactive`). */
  only?: string[];
}

const STATUS_RANK: Record<CheckStatus, number> = {
  'n/a': 0,
  ok: 1,
  warn: 2,
  'no permission': 3,
  error: 4,
  fail: 5,
};

/**
 * Connects and runs every check on one connection. A check that fails for
 * lack of privilege, a timeout or a server error is marked as such and the
 * others still run.
 */
export async function runDoctor(options: DoctorOptions = {}): Promise<DoctorReport> {
  const thresholds = { ...DEFAULT_THRESHOLDS, ...options.thresholds };
  const checks = selectChecks(options.only);
  const connection = {
    ...options,
    statementTimeoutMs: options.statementTimeoutMs ?? 10_000,
    lockTimeoutMs: options.lockTimeoutMs ?? 2_000,
  };

  return withSession(connection, async (session) => {
    const features = await detectFeatures(session.client);
    const cache = new Map<string, Promise<unknown>>();
    const shared = <T>(key: string, load: () => Promise<T>): Promise<T> => {
      if (!cache.has(key)) cache.set(key, load());
      return cache.get(key) as Promise<T>;
    };
    const results: CheckResult[] = [];
    for (const check of checks) {
      results.push(
        await runCheck(
          check,
          { client: session.client, features, thresholds, shared },
          connection.statementTimeoutMs,
        ),
      );
    }
    return buildReport(features, results);
  });
}

function selectChecks(only: string[] | undefined): CheckDefinition[] {
  if (!only || only.length === 0) return ALL_CHECKS;
  const unknown = only.filter(
    (name) => !ALL_CHECKS.some((check) => check.id === name || check.group === name),
  );
  if (unknown.length > 0) {
    throw new UserError(
      'usage',
      `Unknown check "${unknown[0]}"; run opsbox pg doctor --list for the check ids and groups.`,
      {
        code: 'PG_CHECK_UNKNOWN',
      },
    );
  }
  return ALL_CHECKS.filter((check) => only.includes(check.id) || only.includes(check.group));
}

async function runCheck(
  check: CheckDefinition,
  context: Parameters<CheckDefinition['run']>[0],
  timeoutMs: number,
): Promise<CheckResult> {
  const started = performance.now();
  const header = { id: check.id, group: check.group, title: check.title };
  try {
    const outcome = await check.run(context);
    return { ...header, ...outcome, durationMs: Math.round(performance.now() - started) };
  } catch (error) {
    return {
      ...header,
      ...failedOutcome(error, timeoutMs),
      durationMs: Math.round(performance.now() - started),
    };
  }
}

function failedOutcome(
  error: unknown,
  timeoutMs: number,
): Omit<CheckResult, 'id' | 'group' | 'title' | 'durationMs'> {
  const state = sqlState(error);
  const message = (error as Error)?.message ?? String(error);
  const base = { value: null, threshold: null, rows: [] };
  if (state === SQLSTATE.insufficientPrivilege) {
    return {
      ...base,
      status: 'no permission',
      message: `The role cannot read what this check needs: ${message}.`,
      fix: 'GRANT pg_monitor TO the role running opsbox.',
    };
  }
  if (state === SQLSTATE.lockNotAvailable) {
    return {
      ...base,
      status: 'error',
      message:
        'Timed out waiting for a lock held by another session (DDL on a table in progress?).',
      fix: 'Find the lock holder with opsbox pg activity, then run the doctor again.',
    };
  }
  if (state === SQLSTATE.queryCanceled) {
    return {
      ...base,
      status: 'error',
      message: `Timed out after ${timeoutMs / 1000} s.`,
      fix: 'Raise --statement-timeout or run this check when the server is less busy.',
    };
  }
  if (state) {
    return {
      ...base,
      status: 'error',
      message: `The server rejected the check's query: ${message} (SQLSTATE ${state}).`,
      fix: null,
    };
  }
  if (error instanceof UserError) {
    return { ...base, status: 'error', message: error.message, fix: null };
  }
  // A lost connection or a bug in one check should not hide the other checks.
  return {
    ...base,
    status: 'error',
    message: `The check failed unexpectedly: ${message}.`,
    fix: null,
  };
}

function buildReport(
  features: Awaited<ReturnType<typeof detectFeatures>>,
  checks: CheckResult[],
): DoctorReport {
  const summary: Record<CheckStatus, number> = {
    ok: 0,
    warn: 0,
    fail: 0,
    'n/a': 0,
    'no permission': 0,
    error: 0,
  };
  let status: CheckStatus = 'n/a';
  for (const check of checks) {
    summary[check.status]++;
    if (STATUS_RANK[check.status] > STATUS_RANK[status]) status = check.status;
  }
  return {
    server: {
      version: features.version,
      versionNum: features.versionNum,
      role: features.role,
      database: features.database,
      inRecovery: features.inRecovery,
      superuser: features.superuser,
      monitor: features.monitor,
      statements: features.statements?.version ?? null,
    },
    summary,
    status,
    checks,
  };
}
