/**
 * Child process that owns one database connection for the HTTP API. Running
 * queries here keeps a slow query on one database from blocking the event
 * loop, and so other databases. It is a process rather than a worker thread
 * because a thread stuck inside a SQLite call cannot be stopped
 * (better-sqlite3 exposes no sqlite3_interrupt), while a process can be
 * killed; SQLite survives that because the rollback journal undoes the
 * interrupted transaction on the next open.
 */
import { statSync } from 'node:fs';

import type Database from 'better-sqlite3';

import { isUserError } from '../core/errors.js';
import { stringifyJson } from '../core/json.js';
import { openDatabaseFile } from './connection.js';
import { executeStatements, type QueryStatement } from './execute.js';

export interface WorkerRequest {
  id: number;
  statements: QueryStatement[];
  rowMode: 'object' | 'array';
}

export type WorkerReply =
  | { id: number; ok: true; json: string }
  | { id: number; ok: false; error: { kind: string; code: string; message: string } };

const file = process.argv[2]!;
let db: Database.Database | undefined;
let openedInode = -1;

/** Reopens the connection when a restore has swapped a new file in under the same name. */
function refreshConnection(): void {
  const inode = statSync(file).ino;
  if (!db || inode !== openedInode) {
    db?.close();
    db = openDatabaseFile(file, { foreignKeys: true });
    openedInode = inode;
  }
}

function handle(request: WorkerRequest): WorkerReply {
  try {
    const results = executeStatements(db!, request.statements, {
      rowMode: request.rowMode,
      mode: 'api',
    });
    // Serializing here spends this process's CPU rather than the server's.
    return { id: request.id, ok: true, json: stringifyJson(results) };
  } catch (error) {
    return errorReply(request.id, error);
  }
}

function errorReply(id: number, error: unknown): WorkerReply {
  if (isUserError(error))
    return { id, ok: false, error: { kind: error.kind, code: error.code, message: error.message } };
  return {
    id,
    ok: false,
    error: { kind: 'bug', code: 'INTERNAL', message: String((error as Error)?.stack ?? error) },
  };
}

process.on('message', (requests: WorkerRequest[]) => {
  let openFailure: unknown;
  try {
    refreshConnection();
  } catch (error) {
    openFailure = error;
  }
  for (const request of requests)
    process.send!(openFailure ? errorReply(request.id, openFailure) : handle(request));
});
// Exit with the server, even if it died without killing this process.
process.on('disconnect', () => process.exit(0));
