import type { Context } from '../core/context.js';
import { s3Error } from './errors.js';
import { checkBucketName } from './names.js';

export type BackendKind = 'local' | 's3' | 'azure';

/** Settings of a bucket on an S3-compatible service; the secret is sealed with SecretBox. */
export interface S3BackendConfig {
  endpoint?: string;
  region: string;
  bucket: string;
  prefix: string;
  accessKeyId: string;
  sealedSecretAccessKey: string;
  forcePathStyle: boolean;
}

/** Settings of a bucket on Azure Blob Storage; the account key is sealed with SecretBox. */
export interface AzureBackendConfig {
  /** Blob service URL, such as `https://ACCOUNT.blob.core.windows.net` or azurite's `http://127.0.0.1:10000/devstoreaccount1`. */
  endpoint: string;
  accountName: string;
  sealedAccountKey: string;
  container: string;
  prefix: string;
}

export interface BucketRecord {
  name: string;
  backend: BackendKind;
  config: Partial<S3BackendConfig & AzureBackendConfig>;
  createdAt: Date;
}

interface BucketRow {
  name: string;
  backend: BackendKind;
  config: string;
  created_at: string;
}

/** The list of buckets in the state store, whatever their backend. */
export class BucketCatalog {
  constructor(private readonly context: Context) {}

  create(
    name: string,
    backend: BackendKind = 'local',
    config: BucketRecord['config'] = {},
  ): BucketRecord {
    checkBucketName(name);
    const record: BucketRecord = { name, backend, config, createdAt: new Date() };
    const inserted = this.context.state
      .prepare(
        'INSERT INTO storage_buckets (name, backend, config, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING',
      )
      .run(name, backend, JSON.stringify(config), record.createdAt.toISOString());
    if (inserted.changes === 0) {
      throw s3Error(
        'BucketAlreadyOwnedByYou',
        `The bucket "${name}" already exists. List buckets with \`opsbox bucket list\`.`,
      );
    }
    return record;
  }

  find(name: string): BucketRecord | undefined {
    const row = this.context.state
      .prepare('SELECT * FROM storage_buckets WHERE name = ?')
      .get(name) as BucketRow | undefined;
    return row && toRecord(row);
  }

  get(name: string): BucketRecord {
    const record = this.find(name);
    if (!record)
      throw s3Error(
        'NoSuchBucket',
        `The bucket "${name}" does not exist. Create it with \`opsbox bucket create ${name}\` or list buckets with \`opsbox bucket list\`.`,
      );
    return record;
  }

  list(): BucketRecord[] {
    const rows = this.context.state
      .prepare('SELECT * FROM storage_buckets ORDER BY name')
      .all() as BucketRow[];
    return rows.map(toRecord);
  }

  remove(name: string): void {
    this.context.state.prepare('DELETE FROM storage_buckets WHERE name = ?').run(name);
  }
}

function toRecord(row: BucketRow): BucketRecord {
  return {
    name: row.name,
    backend: row.backend,
    config: JSON.parse(row.config),
    createdAt: new Date(row.created_at),
  };
}
