import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { open, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';

import type { Statement } from 'better-sqlite3';

import type { StateDb } from '../../core/state.js';
import type { ObjectChecksum } from '../checksums.js';
import { checkWriteCondition } from '../conditions.js';
import type {
  Backend,
  ByteRange,
  ObjectInfo,
  ObjectStream,
  StagedObject,
  WriteCondition,
} from '../types.js';

interface ObjectRow {
  key: string;
  file: string;
  size: number;
  etag: string;
  md5: string;
  last_modified: string;
  headers: string;
  metadata: string;
  checksum: string | null;
}

const READ_BUFFER = 1024 * 1024;

/**
 * Objects on local disk. A key never becomes a path. Each version of an
 * object is a file named after the SHA-256 of its key plus a random id,
 * under `objects/<first two hex digits>/`. So keys such as `../x`, `a//b` or
 * `tmp/...` cannot leave the bucket folder or collide with its layout. The
 * state store maps each key to its current file.
 */
export class DiskBackend implements Backend {
  private readonly statements = new Map<string, Statement>();

  constructor(
    private readonly db: StateDb,
    private readonly bucket: string,
    readonly root: string,
  ) {}

  /** Prepares each SQL text once per backend; preparing costs more than running these queries. */
  private statement(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /** Folder for temp files; on the same file system as `objects/` so rename is atomic. */
  get tmpDir(): string {
    return path.join(this.root, 'tmp');
  }

  get uploadsDir(): string {
    return path.join(this.root, 'uploads');
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const row = this.row(key);
    return row && toInfo(row);
  }

  async open(
    key: string,
    prepare?: (info: ObjectInfo) => ByteRange | undefined,
  ): Promise<ObjectStream | undefined> {
    // A concurrent overwrite may delete the file between the lookup and the
    // open; the next lookup then finds the new file. Once open, a later
    // delete does not affect the read (POSIX unlink semantics).
    for (let attempt = 0; attempt < 3; attempt++) {
      const row = this.row(key);
      if (!row) return undefined;
      let handle: FileHandle;
      try {
        handle = await open(path.join(this.root, row.file), 'r');
      } catch (error: any) {
        if (error?.code === 'ENOENT') continue;
        throw error;
      }
      const info = toInfo(row);
      let range: ByteRange | undefined;
      try {
        range = prepare?.(info);
      } catch (error) {
        await handle.close();
        throw error;
      }
      // An explicit end keeps the stream from allocating a full read buffer for a small object.
      const end = range?.end ?? info.size - 1;
      const body =
        info.size === 0
          ? Readable.from([])
          : handle.createReadStream({
              start: range?.start ?? 0,
              end,
              highWaterMark: Math.min(READ_BUFFER, end + 1),
            });
      if (info.size === 0) await handle.close();
      return { info, body, range };
    }
    return undefined;
  }

  /**
   * Renames the staged file to a new version file, then swaps the key's row
   * to it in one IMMEDIATE transaction (which also checks the write
   * condition against the current row), then deletes the old version. A
   * crash before the commit leaves the old object; after it, the new one.
   */
  async commit(key: string, staged: StagedObject, condition?: WriteCondition): Promise<ObjectInfo> {
    const file = versionFile(key);
    const target = path.join(this.root, file);
    mkdirSync(path.dirname(target), { recursive: true, mode: 0o700 });
    await rename(staged.file, target);
    await syncDir(path.dirname(target));

    const info: ObjectInfo = {
      key,
      size: staged.size,
      etag: staged.etag,
      md5: staged.md5,
      lastModified: new Date(),
      headers: staged.headers,
      metadata: staged.metadata,
      checksum: staged.checksum,
    };
    let previous: ObjectRow | undefined;
    try {
      const swap = this.db.transaction(() => {
        previous = this.row(key);
        checkWriteCondition(previous && toInfo(previous), condition, key);
        this.statement(
          `INSERT INTO storage_objects (bucket, key, file, size, etag, md5, last_modified, headers, metadata, checksum)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (bucket, key) DO UPDATE SET file = excluded.file, size = excluded.size, etag = excluded.etag,
               md5 = excluded.md5, last_modified = excluded.last_modified, headers = excluded.headers,
               metadata = excluded.metadata, checksum = excluded.checksum`,
        ).run(
          this.bucket,
          key,
          file,
          info.size,
          info.etag,
          info.md5,
          info.lastModified.toISOString(),
          JSON.stringify(info.headers),
          JSON.stringify(info.metadata),
          info.checksum ? JSON.stringify(info.checksum) : null,
        );
      });
      swap.immediate();
    } catch (error) {
      await rm(target, { force: true });
      throw error;
    }
    if (previous) await rm(path.join(this.root, previous.file), { force: true });
    return info;
  }

  async remove(key: string): Promise<boolean> {
    const row = this.row(key);
    if (!row) return false;
    const result = this.statement(
      'DELETE FROM storage_objects WHERE bucket = ? AND key = ? AND file = ?',
    ).run(this.bucket, key, row.file);
    if (result.changes === 0) return this.remove(key);
    await unlink(path.join(this.root, row.file)).catch(() => undefined);
    return true;
  }

  async list(prefix: string, after: string, limit: number): Promise<ObjectInfo[]> {
    const upper = prefixUpperBound(prefix);
    const conditions = ['bucket = ?', 'key > ?', 'key >= ?'];
    const params: unknown[] = [this.bucket, after, prefix];
    if (upper !== undefined) {
      conditions.push('key < ?');
      params.push(upper);
    }
    params.push(limit);
    const rows = this.statement(
      `SELECT * FROM storage_objects WHERE ${conditions.join(' AND ')} ORDER BY key LIMIT ?`,
    ).all(...params) as ObjectRow[];
    return rows.map(toInfo);
  }

  /**
   * Deletes version files that no key points to: left by a crash between
   * the rename into `objects/` and the commit of the key's row. Only files
   * older than `minAgeMs` go, because a commit follows its rename within
   * milliseconds and a younger file may belong to a commit in progress.
   * Returns how many files were deleted.
   */
  async removeOrphans(minAgeMs: number): Promise<number> {
    const objectsDir = path.join(this.root, 'objects');
    const folders = await readdir(objectsDir).catch(() => [] as string[]);
    const rows = this.statement('SELECT file FROM storage_objects WHERE bucket = ?').all(
      this.bucket,
    ) as Array<{ file: string }>;
    const referenced = new Set(rows.map((row) => row.file));
    const cutoff = Date.now() - minAgeMs;
    let removed = 0;
    for (const folder of folders) {
      for (const name of await readdir(path.join(objectsDir, folder)).catch(() => [] as string[])) {
        const file = path.join('objects', folder, name);
        if (referenced.has(file)) continue;
        const info = await stat(path.join(this.root, file)).catch(() => undefined);
        if (!info || info.mtimeMs > cutoff) continue;
        await rm(path.join(this.root, file), { force: true });
        removed++;
      }
    }
    return removed;
  }

  async destroy(): Promise<void> {
    this.db.prepare('DELETE FROM storage_objects WHERE bucket = ?').run(this.bucket);
    await rm(this.root, { recursive: true, force: true });
  }

  private row(key: string): ObjectRow | undefined {
    return this.statement('SELECT * FROM storage_objects WHERE bucket = ? AND key = ?').get(
      this.bucket,
      key,
    ) as ObjectRow | undefined;
  }
}

function versionFile(key: string): string {
  const digest = createHash('sha256').update(key, 'utf8').digest('hex');
  return path.join('objects', digest.slice(0, 2), `${digest}.${randomUUID()}`);
}

/** Fsyncs a folder so a rename into it survives a power loss. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function toInfo(row: ObjectRow): ObjectInfo {
  return {
    key: row.key,
    size: row.size,
    etag: row.etag,
    md5: row.md5,
    lastModified: new Date(row.last_modified),
    headers: JSON.parse(row.headers),
    metadata: JSON.parse(row.metadata),
    checksum: row.checksum ? (JSON.parse(row.checksum) as ObjectChecksum) : undefined,
  };
}

/**
 * Returns the smallest string above every string that starts with `prefix`
 * (undefined when there is none), by incrementing the last code point.
 * UTF-8 byte order equals code point order, so this bounds an index range.
 */
export function prefixUpperBound(prefix: string): string | undefined {
  const points = Array.from(prefix);
  while (points.length > 0) {
    const last = points.pop()!.codePointAt(0)!;
    if (last >= 0x10ffff) continue;
    const next = last === 0xd7ff ? 0xe000 : last + 1;
    return points.join('') + String.fromCodePoint(next);
  }
  return undefined;
}
