import type { Migration } from '../core/state.js';

/**
 * Storage tables. Object rows exist only for buckets on local disk: the row
 * points at the object's data file, and its key column (TEXT, BINARY
 * collation) sorts by UTF-8 bytes, the order S3 lists keys in.
 */
export const STORAGE_MIGRATIONS: Migration[] = [
  {
    area: 'storage',
    version: 1,
    description: 'buckets, objects, multipart uploads and access keys',
    sql: `
      CREATE TABLE storage_buckets (
        name TEXT PRIMARY KEY,
        backend TEXT NOT NULL,
        config TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE TABLE storage_objects (
        bucket TEXT NOT NULL REFERENCES storage_buckets(name) ON DELETE CASCADE,
        key TEXT NOT NULL,
        file TEXT NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        md5 TEXT NOT NULL,
        last_modified TEXT NOT NULL,
        headers TEXT NOT NULL,
        metadata TEXT NOT NULL,
        checksum TEXT,
        PRIMARY KEY (bucket, key)
      ) WITHOUT ROWID;
      CREATE TABLE storage_uploads (
        upload_id TEXT PRIMARY KEY,
        bucket TEXT NOT NULL REFERENCES storage_buckets(name) ON DELETE CASCADE,
        key TEXT NOT NULL,
        attributes TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE INDEX storage_uploads_by_key ON storage_uploads (bucket, key, created_at);
      CREATE TABLE storage_parts (
        upload_id TEXT NOT NULL REFERENCES storage_uploads(upload_id) ON DELETE CASCADE,
        part_number INTEGER NOT NULL,
        file TEXT NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        checksum TEXT,
        last_modified TEXT NOT NULL,
        PRIMARY KEY (upload_id, part_number)
      ) WITHOUT ROWID;
      CREATE TABLE storage_access_keys (
        access_key_id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        secret TEXT NOT NULL,
        buckets TEXT,
        read_only INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        last_used_at TEXT
      );
    `,
  },
];
