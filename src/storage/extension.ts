import { LAYOUT } from '../core/data-dir.js';
import { UserError } from '../core/errors.js';
import type { ServerExtension } from '../server/extensions.js';
import { startS3Server } from './http/server.js';
import { removeStaleTempFiles } from './staging.js';

/**
 * Starts the S3 endpoint with `opsbox serve`, on the API's host and
 * `--s3-port` (the CLI's default is 8788). A caller that passes no flag,
 * such as a test starting the server in-process, gets a free port, so it
 * never collides with a running opsbox.
 */
export const storageExtension: ServerExtension = {
  name: 'storage',
  async start(context, options) {
    const portText = String(options.flags.s3Port ?? 0);
    const port = Number(portText);
    if (!/^\d+$/.test(portText) || port > 65535) {
      throw new UserError('usage', `Invalid --s3-port "${portText}": use a number from 0 to 65535.`);
    }
    const removed = await removeStaleTempFiles(context.dataDir.path(LAYOUT.buckets));
    if (removed > 0) context.logger.info({ removed }, 'storage:temp-files-removed');
    const running = await startS3Server(context, { host: options.host, port });
    context.logger.info({ url: running.url }, 'storage:start');
    return {
      banner: [`S3 endpoint listening on ${running.url} (create keys with \`opsbox storage key create\`)`],
      async stop() {
        await running.stop();
        context.logger.info({ url: running.url }, 'storage:stop');
      },
    };
  },
};
