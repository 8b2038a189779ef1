import { createHash, type Hash } from 'node:crypto';
import { crc32 } from 'node:zlib';

import { Crc32c, Crc64Nvme } from '@aws-sdk/checksums/crc';

import { s3Error } from './errors.js';

/** The flexible checksum algorithms of S3 (and of the AWS SDK v3). */
export const CHECKSUM_ALGORITHMS = ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

/**
 * A stored checksum. FULL_OBJECT covers the whole body; COMPOSITE (multipart
 * only) is the checksum of the parts' binary checksums with a `-N` suffix.
 */
export interface ObjectChecksum {
  algorithm: ChecksumAlgorithm;
  value: string;
  type: 'FULL_OBJECT' | 'COMPOSITE';
}

export function parseChecksumAlgorithm(text: string | undefined): ChecksumAlgorithm | undefined {
  if (!text) return undefined;
  const upper = text.toUpperCase();
  if ((CHECKSUM_ALGORITHMS as readonly string[]).includes(upper)) return upper as ChecksumAlgorithm;
  throw s3Error(
    'InvalidRequest',
    `Invalid checksum algorithm "${text}": use one of ${CHECKSUM_ALGORITHMS.join(', ')}.`,
  );
}

/** The S3 header that carries a checksum: `x-amz-checksum-crc32` and so on. */
export function checksumHeader(algorithm: ChecksumAlgorithm): string {
  return `x-amz-checksum-${algorithm.toLowerCase()}`;
}

interface Accumulator {
  update(data: Uint8Array): void;
  digest(): Promise<Buffer>;
}

class Crc32Accumulator implements Accumulator {
  private value = 0;
  update(data: Uint8Array): void {
    this.value = crc32(data, this.value);
  }
  async digest(): Promise<Buffer> {
    const out = Buffer.alloc(4);
    out.writeUInt32BE(this.value >>> 0);
    return out;
  }
}

class HashAccumulator implements Accumulator {
  private readonly hash: Hash;
  constructor(algorithm: string) {
    this.hash = createHash(algorithm);
  }
  update(data: Uint8Array): void {
    this.hash.update(data);
  }
  async digest(): Promise<Buffer> {
    return this.hash.digest();
  }
}

class SdkAccumulator implements Accumulator {
  constructor(
    private readonly checksum: { update(data: Uint8Array): void; digest(): Promise<Uint8Array> },
  ) {}
  update(data: Uint8Array): void {
    this.checksum.update(data);
  }
  async digest(): Promise<Buffer> {
    return Buffer.from(await this.checksum.digest());
  }
}

export function createAccumulator(algorithm: ChecksumAlgorithm | 'MD5'): Accumulator {
  switch (algorithm) {
    case 'CRC32':
      return new Crc32Accumulator();
    case 'CRC32C':
      return new SdkAccumulator(new Crc32c());
    case 'CRC64NVME':
      return new SdkAccumulator(new Crc64Nvme());
    case 'SHA1':
      return new HashAccumulator('sha1');
    case 'SHA256':
      return new HashAccumulator('sha256');
    case 'MD5':
      return new HashAccumulator('md5');
  }
}

export interface BodyDigest {
  size: number;
  md5: Buffer;
  /** Base64 checksums of the body, by algorithm. */
  checksums: Partial<Record<ChecksumAlgorithm, string>>;
  /** Hex SHA-256, computed only when SigV4 signed the payload hash. */
  sha256Hex?: string;
}

/**
 * Hashes a body as it streams past: always MD5 (the ETag), plus each
 * requested checksum algorithm and, for a signed payload, SHA-256.
 */
export class BodyHasher {
  private size = 0;
  private readonly md5 = createHash('md5');
  private readonly accumulators = new Map<ChecksumAlgorithm, Accumulator>();
  private readonly sha256?: Hash;

  constructor(algorithms: Iterable<ChecksumAlgorithm>, options: { sha256?: boolean } = {}) {
    for (const algorithm of algorithms)
      this.accumulators.set(algorithm, createAccumulator(algorithm));
    // A SHA256 checksum and a signed payload need the same digest; compute it once.
    if (options.sha256 && !this.accumulators.has('SHA256')) this.sha256 = createHash('sha256');
  }

  update(chunk: Uint8Array): void {
    this.size += chunk.byteLength;
    this.md5.update(chunk);
    for (const accumulator of this.accumulators.values()) accumulator.update(chunk);
    this.sha256?.update(chunk);
  }

  async digest(): Promise<BodyDigest> {
    const checksums: Partial<Record<ChecksumAlgorithm, string>> = {};
    let sha256Hex = this.sha256?.digest('hex');
    for (const [algorithm, accumulator] of this.accumulators) {
      const value = await accumulator.digest();
      checksums[algorithm] = value.toString('base64');
      if (algorithm === 'SHA256') sha256Hex = value.toString('hex');
    }
    return { size: this.size, md5: this.md5.digest(), checksums, sha256Hex };
  }
}

/** Returns the composite checksum of multipart parts: checksum of the binary part checksums, then `-N`. */
export async function compositeChecksum(
  algorithm: ChecksumAlgorithm,
  partValues: string[],
): Promise<string> {
  const accumulator = createAccumulator(algorithm);
  for (const value of partValues) accumulator.update(Buffer.from(value, 'base64'));
  return `${(await accumulator.digest()).toString('base64')}-${partValues.length}`;
}

/** Returns the multipart ETag: MD5 of the concatenated binary part MD5s, then `-N`. */
export function multipartEtag(partMd5Hex: string[]): string {
  const hash = createHash('md5');
  for (const part of partMd5Hex) hash.update(Buffer.from(part, 'hex'));
  return `${hash.digest('hex')}-${partMd5Hex.length}`;
}
