import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';

import { Sha256 } from '@aws-crypto/sha256-js';
import { S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';

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
  clientFor(options?: {
    accessKeyId?: string;
    secretAccessKey?: string;
    forcePathStyle?: boolean;
    endpoint?: string;
  }): S3Client;
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
      credentials: {
        accessKeyId: options.accessKeyId ?? info.accessKeyId,
        secretAccessKey: options.secretAccessKey ?? secretAccessKey,
      },
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

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * Sends a request signed with SigV4 by @smithy/signature-v4, for cases the
 * AWS SDK never produces (malformed XML, wrong checksums, custom framing).
 * `path` is sent as given, already percent-encoded.
 */
export async function signedRequest(
  fixture: S3Fixture,
  method: string,
  path: string,
  options: {
    query?: Record<string, string>;
    headers?: Record<string, string>;
    body?: string | Buffer;
    payloadHash?: string;
    secretAccessKey?: string;
    signingDate?: Date;
    host?: string;
  } = {},
): Promise<RawResponse> {
  const body = options.body === undefined ? undefined : Buffer.from(options.body);
  const url = new URL(fixture.server.url);
  const headers: Record<string, string> = {
    host: options.host ?? url.host,
    ...(options.headers ?? {}),
  };
  headers['x-amz-content-sha256'] =
    options.payloadHash ??
    createHash('sha256')
      .update(body ?? Buffer.alloc(0))
      .digest('hex');
  if (body && headers['content-length'] === undefined && !('transfer-encoding' in headers))
    headers['content-length'] = String(body.length);
  const signer = new SignatureV4({
    credentials: {
      accessKeyId: fixture.accessKeyId,
      secretAccessKey: options.secretAccessKey ?? fixture.secretAccessKey,
    },
    region: 'us-east-1',
    service: 's3',
    sha256: Sha256,
    uriEscapePath: false,
  });
  const signed = await signer.sign(
    {
      method,
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path,
      query: options.query ?? {},
      headers,
    },
    { signingDate: options.signingDate },
  );
  const search = new URLSearchParams(options.query ?? {}).toString().replace(/\+/g, '%20');
  return rawRequest(
    fixture,
    method,
    path + (search ? `?${search}` : ''),
    signed.headers as Record<string, string>,
    body,
  );
}

/** Sends a request exactly as given, without signing it. */
export function rawRequest(
  fixture: S3Fixture,
  method: string,
  pathAndQuery: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<RawResponse> {
  const url = new URL(fixture.server.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, method, path: pathAndQuery, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Returns the <Code> of an S3 XML error body. */
export function errorCode(body: string): string | undefined {
  return /<Code>([^<]*)<\/Code>/.exec(body)?.[1];
}
