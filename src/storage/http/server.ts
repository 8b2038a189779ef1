import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

import type { Context } from '../../core/context.js';
import { isUserError, UserError } from '../../core/errors.js';
import { AccessKeyService, keyAllows } from '../access-keys.js';
import { s3Error, s3StatusOf } from '../errors.js';
import { MultipartService } from '../multipart.js';
import { StorageService } from '../service.js';
import * as buckets from './bucket-routes.js';
import * as multipartRoutes from './multipart-routes.js';
import * as objects from './object-routes.js';
import { header, parseRequest, type S3Request } from './request.js';
import { sendXml } from './responses.js';
import { SigV4Verifier } from './sigv4.js';
import { xmlDocument } from './xml.js';

export interface S3ServerOptions {
  host: string;
  port: number;
  /** Host suffixes for virtual-host style requests (`BUCKET.localhost`). */
  virtualHostSuffixes?: string[];
}

export interface RunningS3Server {
  server: Server;
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Errors worth a warning: someone holds a wrong or unknown key, or a clock is off. */
const AUTH_FAILURES = new Set([
  'SignatureDoesNotMatch',
  'InvalidAccessKeyId',
  'RequestTimeTooSkewed',
]);

/** Sub-resources of a bucket that are not implemented; asking for one gets NotImplemented, not a listing. */
const UNSUPPORTED_BUCKET_QUERIES = [
  'acl',
  'policy',
  'cors',
  'lifecycle',
  'tagging',
  'website',
  'logging',
  'notification',
  'replication',
  'encryption',
  'object-lock',
  'ownershipControls',
  'publicAccessBlock',
  'accelerate',
  'requestPayment',
  'analytics',
  'inventory',
  'metrics',
  'intelligent-tiering',
  'versions',
];
const UNSUPPORTED_OBJECT_QUERIES = [
  'acl',
  'tagging',
  'retention',
  'legal-hold',
  'torrent',
  'restore',
  'select',
  'attributes',
];

/**
 * The S3-compatible endpoint: a plain node:http server, so request and
 * response bodies stream straight between the socket and the disk.
 */
export class S3Endpoint {
  readonly storage: StorageService;
  private readonly multipart: MultipartService;
  private readonly verifier: SigV4Verifier;
  private readonly suffixes: string[];

  constructor(
    private readonly context: Context,
    options: { virtualHostSuffixes?: string[]; now?: () => number } = {},
  ) {
    this.storage = new StorageService(context);
    this.multipart = new MultipartService(this.storage);
    this.verifier = new SigV4Verifier(new AccessKeyService(context), options.now);
    this.suffixes = options.virtualHostSuffixes ?? ['localhost'];
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    let request: S3Request | undefined;
    try {
      request = parseRequest(req, res, this.suffixes);
      request.auth = await this.verifier.verify({
        method: request.method,
        rawPath: request.rawPath,
        query: request.query,
        headers: req.headers,
      });
      await this.route(request);
    } catch (error) {
      this.sendError(req, res, request, error);
    } finally {
      // An unread rest of a body (a request rejected before or while its
      // upload was read) is drained so the client receives the error
      // instead of a reset.
      if (!req.complete) req.resume();
      this.context.logger.debug(
        {
          method: req.method,
          bucket: request?.bucket,
          key: request?.key,
          status: res.statusCode,
          ms: Math.round(performance.now() - started),
        },
        's3:request',
      );
    }
  }

  private async route(request: S3Request): Promise<void> {
    const { method, bucket, key, params } = request;
    if (bucket === undefined) {
      if (method === 'GET') return buckets.listBuckets(this.storage, request);
      throw s3Error('MethodNotAllowed', `${method} is not allowed on the service; name a bucket.`);
    }
    const write = method === 'PUT' || method === 'POST' || method === 'DELETE';
    if (!keyAllows(request.auth!.key, bucket, write)) {
      throw s3Error(
        'AccessDenied',
        `The access key "${request.auth!.key.name}" may not ${write ? 'write to' : 'read'} bucket "${bucket}".`,
      );
    }
    if (key === undefined) return this.routeBucket(request, bucket);
    for (const name of UNSUPPORTED_OBJECT_QUERIES) {
      if (params.has(name))
        throw s3Error(
          'NotImplemented',
          `The object sub-resource "?${name}" is not implemented by opsbox.`,
        );
    }

    const uploadId = params.get('uploadId');
    switch (method) {
      case 'PUT':
        if (uploadId !== undefined) {
          return header(request, 'x-amz-copy-source')
            ? multipartRoutes.uploadPartCopy(this.multipart, request, bucket, key)
            : multipartRoutes.uploadPart(this.multipart, request, bucket, key);
        }
        return header(request, 'x-amz-copy-source')
          ? objects.copyObject(this.storage, request, bucket, key)
          : objects.putObject(this.storage, request, bucket, key);
      case 'GET':
        if (uploadId !== undefined)
          return multipartRoutes.listParts(this.multipart, request, bucket, key);
        return objects.getObject(this.storage, request, bucket, key);
      case 'HEAD':
        return objects.headObject(this.storage, request, bucket, key);
      case 'DELETE':
        if (uploadId !== undefined)
          return multipartRoutes.abortUpload(this.multipart, request, bucket, key);
        return objects.deleteObject(this.storage, request, bucket, key);
      case 'POST':
        if (params.has('uploads'))
          return multipartRoutes.createUpload(this.multipart, request, bucket, key);
        if (uploadId !== undefined)
          return multipartRoutes.completeUpload(this.multipart, request, bucket, key);
        break;
    }
    throw s3Error(
      'MethodNotAllowed',
      `${method} is not allowed on an object with these parameters.`,
    );
  }

  private async routeBucket(request: S3Request, bucket: string): Promise<void> {
    const { method, params } = request;
    for (const name of UNSUPPORTED_BUCKET_QUERIES) {
      if (params.has(name))
        throw s3Error(
          'NotImplemented',
          `The bucket sub-resource "?${name}" is not implemented by opsbox.`,
        );
    }
    switch (method) {
      case 'PUT':
        if (!keyAllows(request.auth!.key, undefined, true))
          throw s3Error(
            'AccessDenied',
            `The access key "${request.auth!.key.name}" may not create buckets: it is limited to some buckets or read-only.`,
          );
        return buckets.createBucket(this.storage, request, bucket);
      case 'HEAD':
        return buckets.headBucket(this.storage, request, bucket);
      case 'DELETE':
        return buckets.deleteBucket(this.storage, request, bucket);
      case 'POST':
        if (params.has('delete')) return buckets.deleteObjects(this.storage, request, bucket);
        break;
      case 'GET':
        if (params.has('location')) return buckets.getBucketLocation(this.storage, request, bucket);
        if (params.has('versioning'))
          return buckets.getBucketVersioning(this.storage, request, bucket);
        if (params.has('uploads'))
          return multipartRoutes.listUploads(this.multipart, request, bucket);
        if (params.get('list-type') === '2')
          return buckets.listObjectsV2(this.storage, request, bucket);
        return buckets.listObjectsV1(this.storage, request, bucket);
    }
    throw s3Error(
      'MethodNotAllowed',
      `${method} is not allowed on a bucket with these parameters.`,
    );
  }

  private sendError(
    req: IncomingMessage,
    res: ServerResponse,
    request: S3Request | undefined,
    error: unknown,
  ): void {
    const userError = this.toUserError(req, request, error);
    if (res.headersSent) {
      res.destroy();
      return;
    }

    const { status, code } = s3StatusOf(userError);
    const target = request ?? ({ req, res, id: '', method: req.method ?? 'GET' } as S3Request);
    if (status === 304 || req.method === 'HEAD') {
      res.writeHead(status, { 'x-amz-request-id': target.id, 'x-amz-error-code': code });
      res.end();
      return;
    }

    const details: Record<string, unknown> = { Code: code, Message: userError.message };
    if (request?.bucket) details.BucketName = request.bucket;
    if (request?.key) details.Key = request.key;
    if (code === 'RequestTimeTooSkewed') details.MaxAllowedSkewMilliseconds = 900000;
    details.Resource = request?.rawPath ?? req.url;
    details.RequestId = request?.id ?? '';
    sendXml(target, status, xmlDocument('Error', details, false));
  }

  /** Logs what needs a log line (bugs, failed signatures) and returns the error to send. */
  private toUserError(
    req: IncomingMessage,
    request: S3Request | undefined,
    error: unknown,
  ): UserError {
    if (!isUserError(error)) {
      this.context.logger.error(
        { err: error, method: req.method, bucket: request?.bucket, key: request?.key },
        's3:error',
      );
      return s3Error(
        'InternalError',
        'We encountered an internal error; the server log has the details. Please try again.',
      );
    }
    if (AUTH_FAILURES.has(error.code)) {
      // The access key id is public (it travels in every request); the secret never reaches this point.
      const accessKeyId = /Credential=([A-Za-z0-9]+)/.exec(
        String(req.headers.authorization ?? req.url),
      )?.[1];
      this.context.logger.warn(
        {
          code: error.code,
          accessKeyId,
          method: req.method,
          bucket: request?.bucket,
          address: req.socket?.remoteAddress,
        },
        's3:auth-failed',
      );
    }
    return error;
  }
}

/** Starts the S3 endpoint on a loopback or configured address. */
export async function startS3Server(
  context: Context,
  options: S3ServerOptions,
): Promise<RunningS3Server> {
  const endpoint = new S3Endpoint(context, { virtualHostSuffixes: options.virtualHostSuffixes });
  const server = createServer({ requestTimeout: 0 }, (req, res) => void endpoint.handle(req, res));
  // With a handler for checkContinue, Node leaves `100 Continue` to the
  // handler, which sends it only after the signature checked out.
  server.on('checkContinue', (req, res) => void endpoint.handle(req, res));
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((error: any) => {
    if (error?.code === 'EADDRINUSE') {
      throw new UserError(
        'unavailable',
        `Port ${options.port} on ${options.host} is already in use for the S3 endpoint. Stop the other process or pass --s3-port.`,
        { cause: error },
      );
    }
    throw error;
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    server,
    port,
    url: `http://${host}:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
