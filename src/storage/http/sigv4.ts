import { createHash, createHmac, timingSafeEqual, type Hash, type Hmac } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

import { SignatureV4 } from '@smithy/signature-v4';

import type { AccessKeyInfo, AccessKeyService } from '../access-keys.js';
import { s3Error } from '../errors.js';
import type { ChunkSigner } from './chunked.js';

/** S3 rejects header-signed requests whose x-amz-date is more than 15 minutes off. */
export const MAX_SKEW_MS = 15 * 60 * 1000;
const MAX_PRESIGN_SECONDS = 604_800;
const EMPTY_SHA256 = createHash('sha256').digest('hex');

export type PayloadMode =
  | { kind: 'unsigned' }
  | { kind: 'sha256'; sha256Hex: string }
  | { kind: 'chunked'; signer?: ChunkSigner; seedSignature: string; trailer: boolean };

export interface Authorization {
  key: AccessKeyInfo;
  payload: PayloadMode;
}

/** The parts of a request that SigV4 covers, as the endpoint parsed them. */
export interface SignedRequestParts {
  method: string;
  /** The path exactly as sent, still percent-encoded. */
  rawPath: string;
  /** Decoded query parameters, in the order sent. */
  query: Array<[string, string]>;
  headers: IncomingMessage['headers'];
}

/** SHA-256 and HMAC-SHA256 from node:crypto in the Checksum shape the signer takes. */
class NodeSha256 {
  private readonly hash: Hash | Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    if (secret === undefined) this.hash = createHash('sha256');
    else if (typeof secret === 'string') this.hash = createHmac('sha256', secret);
    else if (ArrayBuffer.isView(secret))
      this.hash = createHmac(
        'sha256',
        Buffer.from(secret.buffer, secret.byteOffset, secret.byteLength),
      );
    else this.hash = createHmac('sha256', Buffer.from(secret));
  }
  update(data: Uint8Array): void {
    this.hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest();
  }
  reset(): void {}
}

interface Credential {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
}

/**
 * Verifies AWS Signature Version 4 in the Authorization header or in a
 * presigned URL's query. The canonical request and the signature come from
 * @smithy/signature-v4, the signer of the AWS SDK, fed with the headers the
 * client listed as signed. This module only parses and compares.
 */
export class SigV4Verifier {
  constructor(
    private readonly keys: AccessKeyService,
    private readonly now: () => number = Date.now,
  ) {}

  async verify(request: SignedRequestParts): Promise<Authorization> {
    const header = request.headers.authorization;
    if (header) return this.verifyHeader(request, header);
    if (request.query.some(([name]) => name === 'X-Amz-Signature'))
      return this.verifyQuery(request);
    throw s3Error(
      'AccessDenied',
      'Anonymous requests are not allowed: sign requests with an access key from `opsbox storage key create`.',
    );
  }

  private async verifyHeader(request: SignedRequestParts, header: string): Promise<Authorization> {
    const match =
      /^AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,\s*Signature=([0-9a-f]{64})\s*$/.exec(
        header.trim(),
      );
    if (!match) {
      if (header.startsWith('AWS '))
        throw s3Error(
          'InvalidRequest',
          'Signature Version 2 is not supported: configure the client for Signature Version 4 (s3v4).',
        );
      throw s3Error(
        'InvalidArgument',
        'The Authorization header is not a valid AWS4-HMAC-SHA256 header.',
      );
    }
    const credential = parseCredential(match[1]!);
    const signedHeaders = match[2]!.split(';');
    const amzDate = headerValue(request.headers, 'x-amz-date');
    if (!amzDate)
      throw s3Error('AccessDenied', 'The request has no x-amz-date header; SigV4 requires one.');
    const signingDate = parseAmzDate(amzDate);
    const skew = Math.abs(this.now() - signingDate.getTime());
    if (skew > MAX_SKEW_MS) {
      throw s3Error(
        'RequestTimeTooSkewed',
        `The difference between the request time (${signingDate.toISOString()}) and the server time (${new Date(this.now()).toISOString()}) is more than 900000 ms; fix the client's clock.`,
      );
    }
    const { key, secretAccessKey } = this.lookup(credential);
    const signer = createSigner(credential, key.accessKeyId, secretAccessKey);

    const contentSha256 = headerValue(request.headers, 'x-amz-content-sha256') ?? EMPTY_SHA256;
    const matched = await this.tryPaths(request, async (path) => {
      const signed = await signer.sign(
        {
          method: request.method,
          protocol: 'http:',
          hostname: headerValue(request.headers, 'host') ?? '',
          path,
          query: queryObject(request.query),
          headers: pickHeaders(request.headers, signedHeaders, contentSha256),
        },
        {
          signingDate,
          signableHeaders: new Set(signedHeaders),
          signingRegion: credential.region,
          signingService: credential.service,
        },
      );
      const computed =
        /Signature=([0-9a-f]{64})/.exec(String(signed.headers.authorization))?.[1] ?? '';
      return sameSignature(computed, match[3]!);
    });
    if (!matched) throw signatureMismatch();

    return { key, payload: payloadMode(contentSha256, match[3]!, signer, credential, signingDate) };
  }

  private async verifyQuery(request: SignedRequestParts): Promise<Authorization> {
    const params = new Map(request.query);
    if (params.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256')
      throw s3Error(
        'AuthorizationQueryParametersError',
        'X-Amz-Algorithm must be AWS4-HMAC-SHA256.',
      );
    const credential = parseCredential(params.get('X-Amz-Credential') ?? '');
    const signingDate = parseAmzDate(params.get('X-Amz-Date') ?? '');
    const expires = Number(params.get('X-Amz-Expires'));
    if (!Number.isInteger(expires) || expires < 1 || expires > MAX_PRESIGN_SECONDS) {
      throw s3Error(
        'AuthorizationQueryParametersError',
        `X-Amz-Expires must be from 1 to ${MAX_PRESIGN_SECONDS} seconds (7 days).`,
      );
    }
    if (this.now() > signingDate.getTime() + expires * 1000) {
      throw s3Error(
        'AccessDenied',
        `Request has expired: the presigned URL was valid until ${new Date(signingDate.getTime() + expires * 1000).toISOString()}. Presign a new URL.`,
      );
    }
    if (signingDate.getTime() - this.now() > MAX_SKEW_MS)
      throw s3Error(
        'AccessDenied',
        'The presigned URL is dated in the future; fix the client clock.',
      );
    const signedHeaders = (params.get('X-Amz-SignedHeaders') ?? 'host').split(';');
    const { key, secretAccessKey } = this.lookup(credential);
    const signer = createSigner(credential, key.accessKeyId, secretAccessKey);

    const authParams = new Set([
      'X-Amz-Algorithm',
      'X-Amz-Credential',
      'X-Amz-Date',
      'X-Amz-Expires',
      'X-Amz-SignedHeaders',
      'X-Amz-Signature',
    ]);
    const query = request.query.filter(([name]) => !authParams.has(name));
    const given = params.get('X-Amz-Signature') ?? '';
    const matched = await this.tryPaths(request, async (path) => {
      const presigned = await signer.presign(
        // A body that is neither a string nor bytes makes the signer use
        // UNSIGNED-PAYLOAD, which is what presigned S3 URLs sign.
        {
          method: request.method,
          protocol: 'http:',
          hostname: headerValue(request.headers, 'host') ?? '',
          path,
          query: queryObject(query),
          headers: pickHeaders(request.headers, signedHeaders),
          body: {},
        },
        {
          signingDate,
          expiresIn: expires,
          signableHeaders: new Set(signedHeaders),
          unhoistableHeaders: new Set(signedHeaders),
          signingRegion: credential.region,
          signingService: credential.service,
        },
      );
      return sameSignature(String(presigned.query?.['X-Amz-Signature'] ?? ''), given);
    });
    if (!matched) throw signatureMismatch();
    return { key, payload: { kind: 'unsigned' } };
  }

  /**
   * Clients sign the path as they encoded it, which is what they send. A few
   * send characters raw that their canonical form encodes, so a mismatch on
   * the raw path is retried on the canonical S3 encoding of the same path.
   */
  private async tryPaths(
    request: SignedRequestParts,
    check: (path: string) => Promise<boolean>,
  ): Promise<boolean> {
    if (await check(request.rawPath)) return true;
    const canonical = canonicalPath(request.rawPath);
    return canonical !== undefined && canonical !== request.rawPath && check(canonical);
  }

  private lookup(credential: Credential): { key: AccessKeyInfo; secretAccessKey: string } {
    const found = this.keys.lookup(credential.accessKeyId);
    if (!found)
      throw s3Error(
        'InvalidAccessKeyId',
        `The access key id "${credential.accessKeyId}" does not exist. List keys with \`opsbox storage key list\`.`,
      );
    this.keys.touch(found.info);
    return { key: found.info, secretAccessKey: found.secretAccessKey };
  }
}

function createSigner(
  credential: Credential,
  accessKeyId: string,
  secretAccessKey: string,
): SignatureV4 {
  return new SignatureV4({
    credentials: { accessKeyId, secretAccessKey },
    region: credential.region,
    service: credential.service,
    sha256: NodeSha256,
    // S3 signs the path as sent: no normalization, no double encoding.
    uriEscapePath: false,
    applyChecksum: false,
  });
}

function payloadMode(
  contentSha256: string,
  seedSignature: string,
  signer: SignatureV4,
  credential: Credential,
  signingDate: Date,
): PayloadMode {
  if (contentSha256 === 'UNSIGNED-PAYLOAD') return { kind: 'unsigned' };
  if (contentSha256 === 'STREAMING-UNSIGNED-PAYLOAD-TRAILER')
    return { kind: 'chunked', seedSignature, trailer: true };
  if (
    contentSha256 === 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' ||
    contentSha256 === 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER'
  ) {
    return {
      kind: 'chunked',
      seedSignature,
      trailer: contentSha256.endsWith('TRAILER'),
      signer: chunkSigner(signer, credential, signingDate),
    };
  }
  if (/^[0-9a-fA-F]{64}$/.test(contentSha256))
    return { kind: 'sha256', sha256Hex: contentSha256.toLowerCase() };
  throw s3Error(
    'InvalidArgument',
    `Unsupported x-amz-content-sha256 "${contentSha256}": send a hex SHA-256, UNSIGNED-PAYLOAD or a STREAMING- value.`,
  );
}

/** Chunk and trailer signatures of streaming uploads, signed with the request's signing key. */
function chunkSigner(signer: SignatureV4, credential: Credential, signingDate: Date): ChunkSigner {
  const longDate = signingDate
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const scope = `${credential.date}/${credential.region}/${credential.service}/aws4_request`;
  const options = {
    signingDate,
    signingRegion: credential.region,
    signingService: credential.service,
  };
  return {
    signChunk: (previous, sha256Hex) =>
      signer.sign(
        ['AWS4-HMAC-SHA256-PAYLOAD', longDate, scope, previous, EMPTY_SHA256, sha256Hex].join('\n'),
        options,
      ),
    signTrailer: (previous, trailer) =>
      signer.sign(
        [
          'AWS4-HMAC-SHA256-TRAILER',
          longDate,
          scope,
          previous,
          createHash('sha256').update(trailer).digest('hex'),
        ].join('\n'),
        options,
      ),
  };
}

function parseCredential(text: string): Credential {
  const parts = text.split('/');
  if (parts.length !== 5 || parts[4] !== 'aws4_request' || !/^\d{8}$/.test(parts[1]!)) {
    throw s3Error(
      'AuthorizationQueryParametersError',
      `Invalid credential scope "${parts.slice(1).join('/')}": expected ACCESS_KEY/YYYYMMDD/REGION/s3/aws4_request.`,
    );
  }
  if (parts[3] !== 's3')
    throw s3Error(
      'SignatureDoesNotMatch',
      `The credential scope names service "${parts[3]}"; sign for service "s3".`,
    );
  return { accessKeyId: parts[0]!, date: parts[1]!, region: parts[2]!, service: parts[3]! };
}

function parseAmzDate(text: string): Date {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!match)
    throw s3Error('AccessDenied', `Invalid X-Amz-Date "${text}": expected YYYYMMDDTHHMMSSZ.`);
  return new Date(
    Date.UTC(+match[1]!, +match[2]! - 1, +match[3]!, +match[4]!, +match[5]!, +match[6]!),
  );
}

function headerValue(headers: IncomingMessage['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** Only the headers the client signed, plus the payload hash the signer reads. */
function pickHeaders(
  headers: IncomingMessage['headers'],
  signed: string[],
  contentSha256?: string,
): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const name of signed) {
    const value = headerValue(headers, name);
    if (value !== undefined) picked[name] = value;
  }
  if (contentSha256 !== undefined) picked['x-amz-content-sha256'] = contentSha256;
  return picked;
}

function queryObject(query: Array<[string, string]>): Record<string, string | string[]> {
  const result: Record<string, string | string[]> = {};
  for (const [name, value] of query) {
    const existing = result[name];
    if (existing === undefined) result[name] = value;
    else result[name] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return result;
}

/** Re-encodes a path the way S3's canonical URI does: every byte but A-Z a-z 0-9 - _ . ~ and '/'. */
function canonicalPath(rawPath: string): string | undefined {
  try {
    return rawPath
      .split('/')
      .map((segment) =>
        encodeURIComponent(decodeURIComponent(segment)).replace(
          /[!'()*]/g,
          (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
        ),
      )
      .join('/');
  } catch {
    return undefined;
  }
}

function sameSignature(computed: string, given: string): boolean {
  return (
    computed.length === given.length && timingSafeEqual(Buffer.from(computed), Buffer.from(given))
  );
}

function signatureMismatch() {
  return s3Error(
    'SignatureDoesNotMatch',
    'The request signature does not match: check the secret access key and that the client signs with SigV4 for service s3.',
  );
}
