import { UserError } from '../core/errors.js';
import { startServer } from '../server/serve.js';
import { prepareDemo } from '../server/demo.js';
import type { CommandSpec } from './command.js';
import { info, untilStopSignal } from './output.js';

export const serveCommand: CommandSpec = {
  name: 'serve',
  summary: 'run the HTTP API and background services',
  serverLogger: true,
  options: [
    { flags: '--host <host>', description: 'address to listen on', default: '127.0.0.1' },
    { flags: '--port <port>', description: 'TCP port of the HTTP API', default: '8787' },
    {
      flags: '--s3-port <port>',
      description: 'TCP port of the S3-compatible storage endpoint',
      default: '8788',
    },
    {
      flags: '--demo',
      description: 'load the bundled Chinook database and example workflow when missing',
    },
  ],
  async run({ options, context }) {
    const port = Number(options.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new UserError(
        'usage',
        `Invalid --port "${options.port}": use a number from 0 to 65535.`,
      );
    }
    if (options.demo) {
      for (const line of await prepareDemo(context)) info(line);
    }
    const server = await startServer(context, { host: options.host, port, flags: options });
    for (const line of server.banner) info(line);
    info(`Data directory: ${context.dataDir.root}. Press Ctrl+C to stop.`);

    await untilStopSignal(context.logger, 'server:signal');
    await server.stop();
    context.close();
  },
};
