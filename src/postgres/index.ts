/**
 * The PostgreSQL runbook as a service: no terminal code, so the CLI, the
 * HTTP API and workflow actions call the same functions. Every function
 * takes ConnectionOptions (URL, DATABASE_URL or PG* variables, optional SSH
 * bastion) and throws UserError for failures that are the user's to fix.
 */
export {
  connect,
  resolveTarget,
  redactUrl,
  withSession,
  type ConnectionOptions,
  type ConnectionTarget,
  type Session,
  type SslMode,
} from './connection.js';
export { runDoctor, ALL_CHECKS, type DoctorOptions } from './doctor/run.js';
export {
  DEFAULT_THRESHOLDS,
  type CheckGroup,
  type CheckResult,
  type CheckStatus,
  type DoctorReport,
  type DoctorThresholds,
} from './doctor/types.js';
export {
  dumpDatabase,
  restoreDatabase,
  copyDatabase,
  type DumpOptions,
  type DumpResult,
  type DumpFormat,
  type RestoreOptions,
  type RestoreResult,
  type CopyOptions,
  type CopyResult,
  type TransferProgress,
} from './dump.js';
export { openTunnel, parseBastion, type Tunnel, type TunnelOptions } from './tunnel.js';
export {
  listActivity,
  findBackend,
  cancelBackend,
  terminateBackend,
  type Backend,
  type SignalOptions,
  type SignalResult,
} from './activity.js';
export {
  readSizes,
  readIndexReport,
  readCache,
  readReplication,
  dropSlot,
  type SizesReport,
  type IndexesReport,
  type ReplicationReport,
  type CacheRatio,
  type SlotRow,
} from './inspect.js';
export {
  listUsers,
  createUser,
  scramVerifier,
  type UsersReport,
  type RoleInfo,
  type AccessLevel,
  type CreateUserOptions,
  type CreateUserResult,
} from './users.js';
export { vacuum, type VacuumOptions, type VacuumProgress, type VacuumResult } from './vacuum.js';
export { locateTool, type LocatedTool } from './tools.js';
