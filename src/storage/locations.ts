import type { Context } from '../core/context.js';
import { UserError } from '../core/errors.js';
import { splitBucketPath } from './names.js';
import type { StorageService } from './service.js';
import type { Backend } from './types.js';

/** One side of a sync: a backend and a key prefix inside it. */
export interface Location {
  /** The location as the user wrote it, for messages. */
  label: string;
  backend: Backend;
  prefix: string;
  /** Local folder for temp files on the way to this location. */
  tmpDir: string;
}

type Env = Record<string, string | undefined>;

/**
 * Resolves `BUCKET[/PREFIX]` (an opsbox bucket, whatever its backend),
 * `s3://`, `r2://` or `azure://` locations. Remote credentials come from the
 * environment variables their own tools read, so secrets never sit in argv.
 * s3:// reads AWS_* (AWS_ENDPOINT_URL for a service other than Amazon S3).
 * r2:// reads R2_ACCOUNT_ID or R2_ENDPOINT, R2_ACCESS_KEY_ID and
 * R2_SECRET_ACCESS_KEY. azure:// reads AZURE_STORAGE_CONNECTION_STRING, or
 * AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY.
 */
export async function resolveLocation(
  context: Context,
  storage: StorageService,
  text: string,
  env: Env = process.env,
): Promise<Location> {
  const tmpDir = context.dataDir.path('tmp', 'sync');
  const scheme = /^([a-z0-9]+):\/\/(.*)$/.exec(text);
  if (!scheme || scheme[1] === 'local') {
    const { bucket, prefix } = splitBucketPath(scheme ? scheme[2]! : text);
    return {
      label: text,
      backend: await storage.backend(bucket),
      prefix,
      tmpDir: storage.tmpDir(bucket),
    };
  }
  const { bucket, prefix } = splitBucketPath(scheme[2]!);
  if (!bucket)
    throw new UserError(
      'usage',
      `The location "${text}" names no bucket: use ${scheme[1]}://BUCKET[/PREFIX].`,
    );
  switch (scheme[1]) {
    case 's3':
      return {
        label: text,
        backend: await s3Backend(bucket, {
          endpoint: env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL,
          region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION,
          accessKeyId: env.AWS_ACCESS_KEY_ID,
          secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
          names: 'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
        }),
        prefix,
        tmpDir,
      };
    case 'r2': {
      const endpoint =
        env.R2_ENDPOINT ??
        (env.R2_ACCOUNT_ID ? `https://${env.R2_ACCOUNT_ID}.r2.cloudflarestorage.com` : undefined);
      if (!endpoint)
        throw new UserError(
          'usage',
          'r2:// needs R2_ACCOUNT_ID (or R2_ENDPOINT) in the environment.',
        );
      return {
        label: text,
        backend: await s3Backend(bucket, {
          endpoint,
          region: 'auto',
          accessKeyId: env.R2_ACCESS_KEY_ID,
          secretAccessKey: env.R2_SECRET_ACCESS_KEY,
          names: 'R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY',
        }),
        prefix,
        tmpDir,
      };
    }
    case 'azure':
      return { label: text, backend: await azureBackend(bucket, env), prefix, tmpDir };
    default:
      throw new UserError(
        'usage',
        `Unknown location scheme "${scheme[1]}://" in "${text}": use BUCKET[/PREFIX], s3://, r2:// or azure://.`,
      );
  }
}

async function s3Backend(
  bucket: string,
  settings: {
    endpoint?: string;
    region?: string;
    accessKeyId?: string;
    secretAccessKey?: string;
    names: string;
  },
): Promise<Backend> {
  if (!settings.accessKeyId || !settings.secretAccessKey)
    throw new UserError('usage', `Missing credentials: set ${settings.names} in the environment.`);
  const { S3Backend, createS3Client } = await import('./backends/s3.js');
  return new S3Backend(
    createS3Client({
      endpoint: settings.endpoint,
      region: settings.region,
      accessKeyId: settings.accessKeyId,
      secretAccessKey: settings.secretAccessKey,
    }),
    bucket,
    '',
  );
}

async function azureBackend(container: string, env: Env): Promise<Backend> {
  const { AzureBackend, createContainerClient } = await import('./backends/azure.js');
  const settings = azureSettings(env);
  return new AzureBackend(createContainerClient({ ...settings, container }), '');
}

/** Reads Azure account settings from a connection string or AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY. */
export function azureSettings(env: Env): {
  endpoint: string;
  accountName: string;
  accountKey: string;
} {
  const fields = new Map<string, string>();
  for (const part of (env.AZURE_STORAGE_CONNECTION_STRING ?? '').split(';')) {
    const equals = part.indexOf('=');
    if (equals > 0) fields.set(part.slice(0, equals), part.slice(equals + 1));
  }
  const accountName = fields.get('AccountName') ?? env.AZURE_STORAGE_ACCOUNT;
  const accountKey = fields.get('AccountKey') ?? env.AZURE_STORAGE_KEY;
  if (!accountName || !accountKey) {
    throw new UserError(
      'usage',
      'Missing Azure credentials: set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY.',
    );
  }
  const endpoint =
    fields.get('BlobEndpoint') ??
    env.AZURE_STORAGE_BLOB_ENDPOINT ??
    `https://${accountName}.blob.core.windows.net`;
  return { endpoint, accountName, accountKey };
}
