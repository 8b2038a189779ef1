import { LAYOUT } from '../core/data-dir.js';
import { UserError } from '../core/errors.js';
import type { ServerExtension } from '../server/extensions.js';
import type { Context } from '../core/context.js';
import { DiskBackend } from './backends/disk.js';
import { clientUrl, recordS3Endpoint } from './endpoint-record.js';
import { startS3Server } from './http/server.js';
import { StorageService } from './service.js';
import { removeStaleTempFiles } from './staging.js';

/**
 * Starts the S3 endpoint with `opsbox serve`, on the API's host and
 * `--s3-port` (the CLI's default is 8788). A caller that passes no flag,
 * such as a test starting the server in-process, gets a free port, so it
 * never collides with a running opsbox.
 */
/** Files younger than this may belong to a commit in progress (see DiskBackend.removeOrphans). */
const ORPHAN_MIN_AGE_MS = 60 * 60 * 1000;

async function removeOrphanFiles(context: Context): Promise<void> {
  const storage = new StorageService(context);
  for (const bucket of storage.buckets.list()) {
    if (bucket.backend !== 'local') continue;
    try {
      const removed = await new DiskBackend(
        context.state,
        bucket.name,
        storage.bucketDir(bucket.name),
      ).removeOrphans(ORPHAN_MIN_AGE_MS);
      if (removed > 0)
        context.logger.info({ bucket: bucket.name, removed }, 'storage:orphan-files-removed');
    } catch (error) {
      context.logger.error({ err: error, bucket: bucket.name }, 'storage:orphan-scan-failed');
    }
  }
}

export const storageExtension: ServerExtension = {
  name: 'storage',
  async start(context, options) {
    const portText = String(options.flags.s3Port ?? 0);
    const port = Number(portText);
    if (!/^\d+$/.test(portText) || port > 65535) {
      throw new UserError(
        'usage',
        `Invalid --s3-port "${portText}": use a number from 0 to 65535.`,
      );
    }
    const removed = await removeStaleTempFiles(context.dataDir.path(LAYOUT.buckets));
    if (removed > 0) context.logger.info({ removed }, 'storage:temp-files-removed');
    // Runs in the background: a large bucket takes a while to scan.
    void removeOrphanFiles(context);
    const running = await startS3Server(context, { host: options.host, port });
    const removeRecord = recordS3Endpoint(context.dataDir, clientUrl(options.host, running.port));
    context.logger.info({ url: running.url }, 'storage:start');
    return {
      banner: [
        `S3 endpoint listening on ${running.url} (create keys with \`opsbox storage key create\`)`,
      ],
      async stop() {
        removeRecord();
        await running.stop();
        context.logger.info({ url: running.url }, 'storage:stop');
      },
    };
  },
};
