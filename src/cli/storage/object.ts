import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

import type { DataDir } from '../../core/data-dir.js';
import { UserError } from '../../core/errors.js';
import { AccessKeyService, keyAllows } from '../../storage/access-keys.js';
import { DEFAULT_S3_ENDPOINT, recordedS3Endpoint } from '../../storage/endpoint-record.js';
import { splitBucketPath } from '../../storage/names.js';
import { StorageService } from '../../storage/service.js';
import type { ObjectHeaders, ObjectInfo } from '../../storage/types.js';
import type { CommandGroupSpec, CommandSpec } from '../command.js';
import { formatBytes, info, printJson, printTable } from '../output.js';
import { byteProgress } from './progress.js';

/** Content types guessed from a file's extension when --content-type is not given. */
const CONTENT_TYPES: Record<string, string> = {
  '.txt': 'text/plain',
  '.html': 'text/html',
  '.css': 'text/css',
  '.js': 'text/javascript',
  '.json': 'application/json',
  '.csv': 'text/csv',
  '.xml': 'application/xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.svg': 'image/svg+xml',
  '.pdf': 'application/pdf',
  '.zip': 'application/zip',
  '.gz': 'application/gzip',
  '.sql': 'application/sql',
  '.sqlite': 'application/vnd.sqlite3',
};

function objectPath(text: string): { bucket: string; key: string } {
  const { bucket, prefix: key } = splitBucketPath(text);
  if (!bucket || !key)
    throw new UserError(
      'usage',
      `Invalid object path "${text}": use BUCKET/KEY, such as "backups/2024/db.sqlite".`,
    );
  return { bucket, key };
}

function objectJson(bucket: string, object: ObjectInfo) {
  return {
    bucket,
    key: object.key,
    size: object.size,
    etag: object.etag,
    lastModified: object.lastModified.toISOString(),
    ...object.headers,
    metadata: object.metadata,
    checksum: object.checksum,
  };
}

function parseMetadata(pairs: string[] | undefined): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const equals = pair.indexOf('=');
    if (equals <= 0) throw new UserError('usage', `Invalid --metadata "${pair}": use NAME=VALUE.`);
    metadata[pair.slice(0, equals).toLowerCase()] = pair.slice(equals + 1);
  }
  return metadata;
}

const put: CommandSpec = {
  name: 'put <path>',
  summary: 'upload a file (or stdin) as BUCKET/KEY',
  options: [
    { flags: '-f, --file <file>', description: 'file to upload', conflicts: ['pipe'] },
    { flags: '-p, --pipe', description: 'read the object from stdin' },
    {
      flags: '--content-type <type>',
      description: 'Content-Type (default: guessed from the file extension)',
    },
    { flags: '--cache-control <value>', description: 'Cache-Control header to store' },
    { flags: '--content-disposition <value>', description: 'Content-Disposition header to store' },
    { flags: '--content-encoding <value>', description: 'Content-Encoding header to store' },
    {
      flags: '--metadata <name=value>',
      description: 'user metadata (repeatable)',
      repeatable: true,
    },
    { flags: '--json', description: 'print the stored object as JSON' },
  ],
  async run({ args: [target], options, context }) {
    const { bucket, key } = objectPath(target!);
    if (!options.file && !options.pipe)
      throw new UserError('usage', 'Name the content: pass --file FILE, or --pipe to read stdin.');
    const headers: ObjectHeaders = {
      contentType:
        options.contentType ??
        (options.file ? CONTENT_TYPES[path.extname(options.file).toLowerCase()] : undefined),
      cacheControl: options.cacheControl,
      contentDisposition: options.contentDisposition,
      contentEncoding: options.contentEncoding,
    };
    const storage = new StorageService(context);
    let stored: ObjectInfo;
    if (options.pipe) {
      stored = await storage.putObject(bucket, key, process.stdin, {
        headers,
        metadata: parseMetadata(options.metadata),
      });
    } else {
      const size = await fileSize(options.file);
      const progress = byteProgress(`uploading ${key}`, size);
      const body = createReadStream(options.file, { highWaterMark: 1024 * 1024 });
      try {
        stored = await storage.putObject(
          bucket,
          key,
          progress ? body.pipe(progress.counter()) : body,
          { headers, metadata: parseMetadata(options.metadata), expect: { size } },
        );
      } finally {
        progress?.stop();
      }
    }
    if (options.json) return printJson(objectJson(bucket, stored));
    info(`Uploaded ${bucket}/${key} (${formatBytes(stored.size)}, ETag ${stored.etag}).`);
  },
};

async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch (error) {
    throw new UserError('not_found', `Cannot read the file ${file}: ${(error as Error).message}.`, {
      cause: error,
    });
  }
}

const get: CommandSpec = {
  name: 'get <path>',
  summary: 'download BUCKET/KEY to a file (or stdout)',
  options: [
    {
      flags: '-f, --file <file>',
      description: 'file to write, replaced atomically (default: stdout)',
    },
    { flags: '--range <range>', description: 'bytes to read, as in HTTP: "bytes=0-99"' },
    { flags: '--json', description: 'with --file, print the object as JSON' },
  ],
  async run({ args: [target], options, context }) {
    const { bucket, key } = objectPath(target!);
    const storage = new StorageService(context);
    if (!options.file) {
      const { body } = await storage.getObject(bucket, key, { range: options.range });
      await pipeline(body, process.stdout);
      return;
    }
    const head = await storage.headObject(bucket, key);
    const progress = byteProgress(`downloading ${key}`, head.size);
    let object: ObjectInfo;
    try {
      object = await storage.getObjectToFile(bucket, key, options.file, {
        range: options.range,
        onData: progress?.advance,
      });
    } finally {
      progress?.stop();
    }
    if (options.json) return printJson(objectJson(bucket, object));
    info(`Downloaded ${bucket}/${key} to ${options.file} (${formatBytes(object.size)}).`);
  },
};

const list: CommandSpec = {
  name: 'list <location>',
  summary: 'list objects in BUCKET[/PREFIX]',
  options: [
    {
      flags: '--delimiter <delimiter>',
      description: 'roll keys up to common prefixes at this delimiter, such as "/"',
    },
    { flags: '--limit <count>', description: 'list at most this many entries', default: '1000' },
    { flags: '--json', description: 'print as JSON' },
  ],
  async run({ args: [location], options, context }) {
    const { bucket, prefix } = splitBucketPath(location!);
    const limit = Number(options.limit);
    if (!Number.isInteger(limit) || limit < 1)
      throw new UserError('usage', `Invalid --limit "${options.limit}": use a positive integer.`);
    const storage = new StorageService(context);
    const objects: ObjectInfo[] = [];
    const prefixes: string[] = [];
    let after = '';
    let truncated = false;
    while (objects.length + prefixes.length < limit) {
      const page = await storage.listObjects(bucket, {
        prefix,
        delimiter: options.delimiter,
        maxKeys: Math.min(1000, limit - objects.length - prefixes.length),
        after,
      });
      objects.push(...page.objects);
      prefixes.push(...page.commonPrefixes);
      truncated = page.isTruncated;
      if (!page.isTruncated || page.lastEntry === undefined) break;
      after = page.lastEntry;
    }
    if (options.json)
      return printJson({
        objects: objects.map((object) => objectJson(bucket, object)),
        commonPrefixes: prefixes,
        truncated,
      });
    printTable(
      ['key', 'size', 'last modified', 'etag'],
      [
        ...prefixes.map((entry) => [entry, 'PREFIX', '', '']),
        ...objects.map((object) => [
          object.key,
          formatBytes(object.size),
          object.lastModified.toISOString(),
          object.etag,
        ]),
      ],
      `No objects in ${location}.`,
    );
    if (truncated) info(`Showing the first ${limit} entries; pass --limit to see more.`);
  },
};

const remove: CommandSpec = {
  name: 'delete <path>',
  summary: 'delete BUCKET/KEY',
  options: [{ flags: '--json', description: 'print the result as JSON' }],
  async run({ args: [target], options, context }) {
    const { bucket, key } = objectPath(target!);
    const existed = await new StorageService(context).deleteObject(bucket, key);
    if (options.json) return printJson({ bucket, key, deleted: existed });
    info(
      existed ? `Deleted ${bucket}/${key}.` : `${bucket}/${key} did not exist; nothing to delete.`,
    );
  },
};

const METHODS = ['GET', 'PUT', 'HEAD', 'DELETE'];

const presign: CommandSpec = {
  name: 'presign <path>',
  summary: 'print a presigned URL for BUCKET/KEY on the S3 endpoint',
  options: [
    {
      flags: '--method <method>',
      description: 'HTTP method the URL allows',
      default: 'GET',
      choices: METHODS,
    },
    {
      flags: '--expires <seconds>',
      description: 'validity in seconds, 1 to 604800 (7 days)',
      default: '3600',
    },
    {
      flags: '--endpoint <url>',
      description: `S3 endpoint URL the URL points at (default: the endpoint of the \`opsbox serve\` running on this data directory, else ${DEFAULT_S3_ENDPOINT})`,
    },
    {
      flags: '--access-key <id-or-name>',
      description: 'access key to sign with (default: the first key allowed to do this)',
    },
    { flags: '--json', description: 'print the URL and its expiry as JSON' },
  ],
  async run({ args: [target], options, context }) {
    const { bucket, key } = objectPath(target!);
    const expires = Number(options.expires);
    if (!Number.isInteger(expires) || expires < 1 || expires > 604_800)
      throw new UserError(
        'usage',
        `Invalid --expires "${options.expires}": use 1 to 604800 seconds.`,
      );
    new StorageService(context).buckets.get(bucket);
    const endpoint = resolveEndpoint(options.endpoint, context.dataDir);
    const keys = new AccessKeyService(context);
    const write = options.method === 'PUT' || options.method === 'DELETE';
    const chosen = keys
      .list()
      .find((entry) =>
        options.accessKey
          ? entry.accessKeyId === options.accessKey || entry.name === options.accessKey
          : keyAllows(entry, bucket, write),
      );
    if (!chosen) {
      throw new UserError(
        'not_found',
        options.accessKey
          ? `No access key has the id or name "${options.accessKey}".`
          : `No access key may ${write ? 'write to' : 'read'} bucket "${bucket}": create one with \`opsbox storage key create\`.`,
      );
    }
    const { secretAccessKey } = keys.lookup(chosen.accessKeyId)!;

    const { S3Client, GetObjectCommand, PutObjectCommand, HeadObjectCommand, DeleteObjectCommand } =
      await import('@aws-sdk/client-s3');
    const { getSignedUrl } = await import('@aws-sdk/s3-request-presigner');
    const client = new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: chosen.accessKeyId, secretAccessKey },
    });
    const input = { Bucket: bucket, Key: key };
    const commands = {
      GET: () => new GetObjectCommand(input),
      PUT: () => new PutObjectCommand(input),
      HEAD: () => new HeadObjectCommand(input),
      DELETE: () => new DeleteObjectCommand(input),
    };
    const url = await getSignedUrl(client, commands[options.method as keyof typeof commands](), {
      expiresIn: expires,
    });
    client.destroy();
    if (options.json)
      return printJson({
        url,
        method: options.method,
        expiresAt: new Date(Date.now() + expires * 1000).toISOString(),
        accessKeyId: chosen.accessKeyId,
        endpoint,
      });
    process.stdout.write(url + '\n');
  },
};

/**
 * Picks the endpoint a presigned URL points at: --endpoint, else the one a
 * running `opsbox serve` recorded for this data directory, else serve's
 * default. The fallback prints a note on stderr, because no server confirmed it.
 */
function resolveEndpoint(flag: string | undefined, dataDir: DataDir): string {
  if (flag !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(flag);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new UserError(
        'usage',
        `Invalid --endpoint "${flag}": use an http:// or https:// URL such as ${DEFAULT_S3_ENDPOINT}.`,
      );
    }
    return flag;
  }
  const recorded = recordedS3Endpoint(dataDir);
  if (recorded) return recorded;
  info(
    `No \`opsbox serve\` is running on this data directory, so the URL points at its default endpoint ${DEFAULT_S3_ENDPOINT}. Pass --endpoint URL for another server.`,
  );
  return DEFAULT_S3_ENDPOINT;
}

export const objectCommands: CommandGroupSpec = {
  name: 'object',
  summary: 'upload, download, list, delete and presign objects',
  commands: [put, get, list, remove, presign],
};
