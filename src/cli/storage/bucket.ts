import { UserError } from '../../core/errors.js';
import { azureSettings } from '../../storage/locations.js';
import { StorageService, type RemoteBucketSettings } from '../../storage/service.js';
import type { BucketRecord } from '../../storage/buckets.js';
import type { CommandGroupSpec, CommandSpec } from '../command.js';
import { confirm, info, printJson, printTable, readStdin } from '../output.js';

function describeLocation(bucket: BucketRecord): string {
  const prefix = bucket.config.prefix ? `/${bucket.config.prefix}` : '';
  if (bucket.backend === 's3')
    return `s3://${bucket.config.bucket}${prefix} at ${bucket.config.endpoint ?? 'Amazon S3'}`;
  if (bucket.backend === 'azure')
    return `azure://${bucket.config.container}${prefix} at ${bucket.config.endpoint}`;
  return 'local disk';
}

/** Public fields of a bucket; sealed secrets stay out of every output. */
function bucketJson(bucket: BucketRecord) {
  const { sealedSecretAccessKey: _secret, sealedAccountKey: _key, ...config } = bucket.config;
  return {
    name: bucket.name,
    backend: bucket.backend,
    location: describeLocation(bucket),
    createdAt: bucket.createdAt.toISOString(),
    config,
  };
}

async function remoteSettings(
  name: string,
  options: Record<string, any>,
): Promise<RemoteBucketSettings> {
  const secretFromStdin = options.secretStdin ? (await readStdin()).trim() : undefined;
  if (options.backend === 'azure') {
    const env = { ...process.env };
    if (options.accountName) env.AZURE_STORAGE_ACCOUNT = options.accountName;
    if (secretFromStdin) env.AZURE_STORAGE_KEY = secretFromStdin;
    if (options.endpoint) env.AZURE_STORAGE_BLOB_ENDPOINT = options.endpoint;
    const settings = azureSettings(env);
    return {
      backend: 'azure',
      ...settings,
      container: options.container ?? name,
      prefix: options.prefix ?? '',
    };
  }

  const r2 = options.backend === 'r2';
  const endpoint =
    options.endpoint ??
    (r2 && options.accountId ? `https://${options.accountId}.r2.cloudflarestorage.com` : undefined);
  if (r2 && !endpoint)
    throw new UserError('usage', 'An r2 bucket needs --account-id ID (or --endpoint URL).');
  const accessKeyId =
    options.accessKeyId ??
    (r2 ? process.env.R2_ACCESS_KEY_ID : undefined) ??
    process.env.AWS_ACCESS_KEY_ID;
  const secretAccessKey =
    secretFromStdin ??
    (r2 ? process.env.R2_SECRET_ACCESS_KEY : undefined) ??
    process.env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) {
    throw new UserError(
      'usage',
      `Missing credentials for the ${options.backend} bucket: pass --access-key-id and the secret on stdin with --secret-stdin, or set ${r2 ? 'R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY' : 'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY'}.`,
    );
  }
  return {
    backend: 's3',
    endpoint,
    region: options.region ?? (r2 ? 'auto' : (process.env.AWS_REGION ?? 'us-east-1')),
    bucket: options.remoteBucket ?? name,
    prefix: options.prefix ?? '',
    accessKeyId,
    secretAccessKey,
    forcePathStyle: options.virtualHost ? false : Boolean(endpoint),
  };
}

const create: CommandSpec = {
  name: 'create <name>',
  summary: 'create a bucket on local disk, an S3-compatible service, R2 or Azure Blob',
  description:
    'Create a bucket. By default its objects live on local disk in the data directory.\n' +
    'With --backend s3, r2 or azure they live in an existing remote bucket or container; the S3 endpoint and CLI front it the same way.\n' +
    'Secrets never go on the command line: pass them on stdin with --secret-stdin or set AWS_SECRET_ACCESS_KEY,\n' +
    'R2_SECRET_ACCESS_KEY, AZURE_STORAGE_KEY or AZURE_STORAGE_CONNECTION_STRING. They are stored encrypted.',
  options: [
    {
      flags: '--backend <kind>',
      description: 'where objects live',
      default: 'local',
      choices: ['local', 's3', 'r2', 'azure'],
    },
    {
      flags: '--endpoint <url>',
      description: 'S3 endpoint URL (s3, r2) or blob service URL (azure)',
    },
    { flags: '--region <region>', description: 'S3 region (s3; r2 uses "auto")' },
    { flags: '--account-id <id>', description: 'Cloudflare account id (r2)' },
    {
      flags: '--remote-bucket <name>',
      description: 'bucket name on the S3 service (default: NAME)',
    },
    { flags: '--container <name>', description: 'Azure container (default: NAME)' },
    {
      flags: '--account-name <name>',
      description: 'Azure storage account (default: $AZURE_STORAGE_ACCOUNT)',
    },
    { flags: '--prefix <prefix>', description: 'key prefix inside the remote bucket or container' },
    {
      flags: '--access-key-id <id>',
      description: 'S3 access key id (default: $AWS_ACCESS_KEY_ID or $R2_ACCESS_KEY_ID)',
    },
    {
      flags: '--secret-stdin',
      description: 'read the secret access key or account key from stdin',
    },
    {
      flags: '--virtual-host',
      description: 'address the S3 service as BUCKET.host instead of host/BUCKET',
    },
    { flags: '--json', description: 'print the bucket as JSON' },
  ],
  async run({ args: [name], options, context }) {
    const storage = new StorageService(context);
    const record =
      options.backend === 'local'
        ? storage.createBucket(name!)
        : await storage.createRemoteBucket(name!, await remoteSettings(name!, options));
    if (options.json) return printJson(bucketJson(record));
    info(`Created bucket "${record.name}" on ${describeLocation(record)}.`);
  },
};

const list: CommandSpec = {
  name: 'list',
  summary: 'list buckets and where each one stores its objects',
  options: [{ flags: '--json', description: 'print as JSON' }],
  run({ options, context }) {
    const buckets = new StorageService(context).buckets.list();
    if (options.json) return printJson(buckets.map(bucketJson));
    printTable(
      ['name', 'backend', 'location', 'created'],
      buckets.map((bucket) => [
        bucket.name,
        bucket.backend,
        describeLocation(bucket),
        bucket.createdAt.toISOString(),
      ]),
      'No buckets. Create one with `opsbox bucket create NAME`.',
    );
  },
};

const remove: CommandSpec = {
  name: 'delete <name>',
  summary: 'delete an empty bucket (with --force, its objects too)',
  options: [
    {
      flags: '--force',
      description:
        'delete the objects with the bucket (for remote buckets, the remote objects too)',
    },
    { flags: '-y, --yes', description: 'do not ask for confirmation with --force' },
    { flags: '--json', description: 'print the deleted bucket as JSON' },
  ],
  async run({ args: [name], options, context }) {
    const storage = new StorageService(context);
    const record = storage.buckets.get(name!);
    if (options.force)
      await confirm(`Delete bucket "${name}" and every object in it?`, { yes: options.yes });
    await storage.deleteBucket(name!, { force: options.force });
    if (options.json) return printJson(bucketJson(record));
    info(`Deleted bucket "${name}".`);
  },
};

export const bucketCommands: CommandGroupSpec = {
  name: 'bucket',
  summary: 'create, list and delete storage buckets',
  commands: [create, list, remove],
};
