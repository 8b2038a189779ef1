import { randomBytes } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import path from 'node:path';

import Database from 'better-sqlite3';

import type { Context } from '../core/context.js';
import { LAYOUT } from '../core/data-dir.js';
import { UserError, errorMessage } from '../core/errors.js';
import { DatabaseCatalog, type DatabaseRecord } from './catalog.js';
import { openDatabaseFile, translateSqliteError } from './connection.js';

export interface BackupInfo {
  id: string;
  database: string;
  createdAt: string;
  sizeBytes: number;
  file: string;
}

const ID_PATTERN = /^\d{8}T\d{9}Z-[0-9a-f]{6}$/;
const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * Backups of managed databases, one SQLite file each under
 * `backups/<database>/<id>.sqlite`. Ids sort by creation time.
 */
export class BackupService {
  private readonly catalog: DatabaseCatalog;

  constructor(private readonly context: Context) {
    this.catalog = new DatabaseCatalog(context);
  }

  /**
   * Writes a consistent copy with VACUUM INTO: it reads inside one
   * transaction, so concurrent writers never produce a torn copy. The copy
   * goes to a temp name and is renamed only once complete and fsynced.
   */
  create(nameOrId: string): BackupInfo {
    const record = this.catalog.get(nameOrId);
    const dir = this.context.dataDir.ensure(LAYOUT.backups, record.name);
    const id = newBackupId();
    const file = path.join(dir, `${id}.sqlite`);
    const temp = `${file}.tmp`;
    const db = openDatabaseFile(record.file, { readonly: true, busyTimeoutMs: 30_000 });
    try {
      db.prepare('VACUUM INTO ?').run(temp);
    } catch (error) {
      rmSync(temp, { force: true });
      throw translateSqliteError(error, record.file);
    } finally {
      db.close();
    }
    fsyncFile(temp);
    renameSync(temp, file);
    fsyncFile(dir);
    return this.describe(record.name, id);
  }

  list(nameOrId: string): BackupInfo[] {
    const name = this.catalog.find(nameOrId)?.name ?? nameOrId;
    const dir = this.context.dataDir.path(LAYOUT.backups, name);
    if (!existsSync(dir)) {
      // A deleted database's backups stay listable; a name never seen is an error.
      if (!this.catalog.find(nameOrId)) this.catalog.get(nameOrId);
      return [];
    }
    return readdirSync(dir)
      .filter(
        (entry) => entry.endsWith('.sqlite') && ID_PATTERN.test(entry.slice(0, -'.sqlite'.length)),
      )
      .sort()
      .map((entry) => this.describe(name, entry.slice(0, -'.sqlite'.length)));
  }

  get(nameOrId: string, id: string): BackupInfo {
    const name = this.catalog.find(nameOrId)?.name ?? nameOrId;
    const backups = this.list(name);
    const found = id === 'latest' ? backups.at(-1) : backups.find((backup) => backup.id === id);
    if (!found) {
      throw new UserError(
        'not_found',
        `Backup "${id}" of database "${name}" not found. List backups with \`opsbox db backup list ${name}\`.`,
        { code: 'BACKUP_NOT_FOUND' },
      );
    }
    return found;
  }

  /** Copies a backup to a file of the user's choice. */
  download(nameOrId: string, id: string, output: string): BackupInfo {
    const backup = this.get(nameOrId, id);
    const temp = `${output}.${randomBytes(4).toString('hex')}.tmp`;
    copyFileSync(backup.file, temp);
    fsyncFile(temp);
    renameSync(temp, output);
    return backup;
  }

  /**
   * Replaces the database with a backup (or any SQLite file). It first checks
   * the candidate and backs up the current database. Then it renames the new
   * file in while holding an exclusive lock, so no writer is mid-transaction
   * and no hot journal can be replayed onto the new file.
   */
  restore(
    nameOrId: string,
    source: { id?: string; file?: string; label?: string },
  ): { restored: BackupInfo | { file: string }; previous: BackupInfo } {
    const record = this.catalog.get(nameOrId);
    const sourceFile = source.file ?? this.get(record.name, source.id ?? 'latest').file;
    checkSqliteFile(sourceFile, source.label);

    const staged = path.join(
      path.dirname(record.file),
      `.${record.name}.restore-${randomBytes(4).toString('hex')}.tmp`,
    );
    copyFileSync(sourceFile, staged);
    fsyncFile(staged);
    let previous: BackupInfo;
    try {
      previous = this.create(record.name);
      swapIn(record, staged);
    } catch (error) {
      rmSync(staged, { force: true });
      throw error;
    }
    const restored = source.file
      ? { file: source.file }
      : this.get(record.name, source.id ?? 'latest');
    return { restored, previous };
  }

  /**
   * Takes a backup and also stores it as an object `<prefix>/<name>/<id>.sqlite`
   * in a bucket (local, S3, R2 or Azure). The local copy stays, so
   * `backup list` still shows it.
   */
  async createInBucket(
    nameOrId: string,
    target: string,
  ): Promise<BackupInfo & { bucket: string; key: string }> {
    const { StorageService, splitBucketPath } = await import('../storage/index.js');
    const { bucket, prefix } = splitBucketPath(target);
    const storage = new StorageService(this.context);
    // Fails with NoSuchBucket before any backup is taken.
    await storage.listObjects(bucket, { prefix: '', maxKeys: 1, after: '' });
    const backup = this.create(nameOrId);
    const key = [prefix.replace(/\/+$/, ''), backup.database, `${backup.id}.sqlite`]
      .filter(Boolean)
      .join('/');
    try {
      await storage.putObjectFromFile(bucket, key, backup.file, {
        headers: { contentType: 'application/vnd.sqlite3' },
      });
    } catch (error) {
      rmSync(backup.file, { force: true });
      throw error;
    }
    return { ...backup, bucket, key };
  }

  /** Restores from an object `BUCKET/KEY` written by createInBucket or any SQLite file in a bucket. */
  async restoreFromBucket(
    nameOrId: string,
    source: string,
  ): Promise<{ restored: { file: string }; previous: BackupInfo }> {
    const { StorageService, splitBucketPath } = await import('../storage/index.js');
    const { bucket, prefix: key } = splitBucketPath(source);
    if (!key)
      throw new UserError(
        'usage',
        `Missing object key in "${source}": pass --from BUCKET/KEY, such as backups/chinook/20260101T000000000Z-abcdef.sqlite.`,
      );
    const record = this.catalog.get(nameOrId);
    const staged = path.join(
      this.context.dataDir.ensure(LAYOUT.tmp),
      `restore-${randomBytes(4).toString('hex')}.sqlite`,
    );
    try {
      await new StorageService(this.context).getObjectToFile(bucket, key, staged);
      const outcome = this.restore(record.name, { file: staged, label: `${bucket}/${key}` });
      return { restored: { file: `${bucket}/${key}` }, previous: outcome.previous };
    } finally {
      rmSync(staged, { force: true });
    }
  }

  private describe(name: string, id: string): BackupInfo {
    const file = this.context.dataDir.path(LAYOUT.backups, name, `${id}.sqlite`);
    return { id, database: name, createdAt: idToIso(id), sizeBytes: statSync(file).size, file };
  }
}

function swapIn(record: DatabaseRecord, staged: string): void {
  const db = openDatabaseFile(record.file, { busyTimeoutMs: 30_000 });
  try {
    db.exec('BEGIN EXCLUSIVE');
    renameSync(staged, record.file);
    fsyncFile(path.dirname(record.file));
    db.exec('ROLLBACK');
  } catch (error) {
    throw translateSqliteError(error, record.file);
  } finally {
    db.close();
  }
}

/** Rejects a file that is not a readable, intact SQLite database. */
export function checkSqliteFile(file: string, label = file): void {
  const header = Buffer.alloc(SQLITE_HEADER.length);
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    throw new UserError('not_found', `Cannot read backup file ${label}: ${errorMessage(error)}.`, {
      code: 'BACKUP_UNREADABLE',
    });
  }
  try {
    readSync(fd, header, 0, header.length, 0);
  } finally {
    closeSync(fd);
  }
  if (!header.equals(SQLITE_HEADER)) {
    throw new UserError(
      'invalid',
      `${label} is not a SQLite database (its header is not "SQLite format 3"). Nothing was restored.`,
      { code: 'NOT_A_DATABASE' },
    );
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const verdict = db.pragma('quick_check', { simple: true });
    if (verdict !== 'ok')
      throw new UserError(
        'invalid',
        `${label} failed SQLite's quick_check (${String(verdict).split('\n')[0]}). Nothing was restored.`,
        { code: 'CORRUPT_BACKUP' },
      );
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw new UserError(
      'invalid',
      `${label} is not a usable SQLite database: ${errorMessage(error).split('\n')[0]}. Nothing was restored.`,
      { code: 'NOT_A_DATABASE' },
    );
  } finally {
    db?.close();
  }
}

function newBackupId(): string {
  const iso = new Date().toISOString(); // 2026-12-04T15:23:22.123Z
  const compact = iso.replace(/[-:.]/g, '');
  return `${compact}-${randomBytes(3).toString('hex')}`;
}

function idToIso(id: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z/.exec(id)!;
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z`;
}

function fsyncFile(file: string): void {
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
