import type { Context } from '../core/context.js';
import { workflowsExtension } from '../workflows/server.js';
import { storageExtension } from '../storage/extension.js';

export interface ServeOptions {
  host: string;
  port: number;
  /** Every option `opsbox serve` was given, for extensions with flags of their own. */
  flags: Record<string, unknown>;
}

export interface RunningExtension {
  /** Human-readable lines printed at startup, such as the S3 endpoint URL. */
  banner?: string[];
  stop(): Promise<void>;
}

/**
 * A part of `opsbox serve` that is not an HTTP route: another listener (the
 * S3 endpoint) or a background loop (the workflow scheduler).
 */
export interface ServerExtension {
  name: string;
  start(context: Context, options: ServeOptions): Promise<RunningExtension>;
}

/** Extensions started by `opsbox serve`, in order; stopped in reverse order. */
export const SERVER_EXTENSIONS: ServerExtension[] = [storageExtension, workflowsExtension];
