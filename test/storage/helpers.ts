import { S3Client } from '@aws-sdk/client-s3';

import { Context } from '../../src/core/context.js';
import { AccessKeyService } from '../../src/storage/access-keys.js';
import { startS3Server, type RunningS3Server } from '../../src/storage/http/server.js';
import { tempDir } from '../helpers/cli.js';

export interface S3Fixture {
  dir: string;
  context: Context;
  server: RunningS3Server;
  accessKeyId: string;
  secretAccessKey: string;
  client: S3Client;
  clientFor(options?: { accessKeyId?: string; secretAccessKey?: string; forcePathStyle?: boolean; endpoint?: string }): S3Client;
  close(passed: boolean): Promise<void>;
}

/** Starts an S3 endpoint on a free loopback port over a fresh data directory, with one read-write key. */
export async function startFixture(prefix: string): Promise<S3Fixture> {
  const temp = tempDir(prefix);
  const context = new Context({ dataDir: temp.dir });
  const server = await startS3Server(context, { host: '127.0.0.1', port: 0 });
  const { info, secretAccessKey } = new AccessKeyService(context).create('test');
  const clientFor: S3Fixture['clientFor'] = (options = {}) =>
    new S3Client({
      endpoint: options.endpoint ?? server.url,
      region: 'us-east-1',
      forcePathStyle: options.forcePathStyle ?? true,
      credentials: { accessKeyId: options.accessKeyId ?? info.accessKeyId, secretAccessKey: options.secretAccessKey ?? secretAccessKey },
      maxAttempts: 1,
    });
  const client = clientFor();
  return {
    dir: temp.dir,
    context,
    server,
    accessKeyId: info.accessKeyId,
    secretAccessKey,
    client,
    clientFor,
    async close(passed) {
      client.destroy();
      await server.stop();
      context.close();
      temp.cleanup(passed);
    },
  };
}
