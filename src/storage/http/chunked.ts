import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

import { s3Error } from '../errors.js';

/** Computes a chunk or trailer signature; given by the SigV4 verifier for signed streams. */
export interface ChunkSigner {
  /** Returns the expected signature of a chunk, given the previous signature and the chunk's bytes. */
  signChunk(previous: string, sha256Hex: string): Promise<string>;
  signTrailer(previous: string, canonicalTrailer: string): Promise<string>;
}

const EMPTY_SHA256 = createHash('sha256').digest('hex');
/** Maximum length of a chunk-size line (hex size plus `;chunk-signature=` and 64 hex digits). */
const MAX_LINE = 4096;
/** Bytes of trailer headers accepted after the last chunk. */
const MAX_TRAILER = 16 * 1024;
/** S3 rejects non-final signed chunks under 8 KiB. */
const MIN_SIGNED_CHUNK = 8 * 1024;

type State = 'size' | 'data' | 'data-end' | 'trailer' | 'done';

/**
 * Decodes an `aws-chunked` body (`<hex size>[;chunk-signature=…]\r\n<data>\r\n`
 * … `0\r\n<trailers>\r\n`) into the object's bytes. Node already removed the
 * outer HTTP chunked framing. With a signer, each chunk signature is checked
 * against the chain that starts at the request's seed signature. The
 * trailing headers (such as `x-amz-checksum-crc32`) are kept in `trailers`.
 */
export class AwsChunkedDecoder extends Transform {
  readonly trailers = new Map<string, string>();
  private state: State = 'size';
  private line = Buffer.alloc(0);
  private remaining = 0;
  private chunkSignature?: string;
  private chunkHash?: ReturnType<typeof createHash>;
  private previousSignature: string;
  private lastChunkSize = -1;
  private trailerText = '';

  /**
   * `signedTrailer` is set for STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER,
   * whose trailer must carry an x-amz-trailer-signature.
   */
  constructor(
    private readonly signer?: ChunkSigner,
    seedSignature = '',
    private readonly signedTrailer = false,
  ) {
    super();
    this.previousSignature = seedSignature;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.consume(chunk).then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    if (this.state === 'trailer' && this.line.length === 0 && this.trailers.size === 0)
      this.state = 'done';
    if (this.state !== 'done') {
      callback(
        s3Error(
          'IncompleteBody',
          'The aws-chunked body ended before its final 0-size chunk; nothing was stored.',
        ),
      );
      return;
    }
    callback();
  }

  private async consume(input: Buffer): Promise<void> {
    let offset = 0;
    while (offset < input.length) {
      if (this.state === 'data') {
        const take = Math.min(this.remaining, input.length - offset);
        const slice = input.subarray(offset, offset + take);
        this.chunkHash?.update(slice);
        this.push(slice);
        this.remaining -= take;
        offset += take;
        if (this.remaining === 0) this.state = 'data-end';
        continue;
      }
      if (this.state === 'done') {
        // Bytes after the final CRLF are ignored, as S3 does.
        return;
      }
      const newline = input.indexOf(0x0a, offset);
      const end = newline < 0 ? input.length : newline + 1;
      this.line = Buffer.concat([this.line, input.subarray(offset, end)]);
      offset = end;
      if (this.line.length > (this.state === 'trailer' ? MAX_TRAILER : MAX_LINE))
        throw malformed('a chunk header line is too long');
      if (newline < 0) return;
      const text = this.line.toString('latin1').replace(/\r?\n$/, '');
      this.line = Buffer.alloc(0);
      await this.handleLine(text);
    }
  }

  private async handleLine(text: string): Promise<void> {
    switch (this.state) {
      case 'data-end':
        if (text !== '') throw malformed('a chunk is longer than its size');
        await this.verifyChunk();
        this.state = this.lastChunkSize === 0 ? 'trailer' : 'size';
        return;
      case 'size':
        return this.startChunk(text);
      case 'trailer':
        if (text === '') {
          await this.verifyTrailer();
          this.state = 'done';
          return;
        }
        return this.addTrailer(text);
    }
  }

  private async startChunk(text: string): Promise<void> {
    const [sizeText, ...extensions] = text.split(';');
    if (!/^[0-9a-fA-F]{1,16}$/.test(sizeText!.trim()))
      throw malformed(`invalid chunk size "${sizeText}"`);
    const size = parseInt(sizeText!, 16);
    if (
      this.signer &&
      this.lastChunkSize >= 0 &&
      this.lastChunkSize < MIN_SIGNED_CHUNK &&
      size > 0
    ) {
      throw s3Error(
        'InvalidChunkSizeError',
        `A signed chunk of ${this.lastChunkSize} bytes is followed by more data; every chunk but the last must be at least 8 KiB.`,
      );
    }
    this.chunkSignature = extensions
      .map((part) => part.trim())
      .find((part) => part.startsWith('chunk-signature='))
      ?.slice('chunk-signature='.length);
    if (this.signer && !this.chunkSignature)
      throw s3Error(
        'SignatureDoesNotMatch',
        'A chunk of a signed aws-chunked body has no chunk-signature.',
      );
    this.chunkHash = this.signer ? createHash('sha256') : undefined;
    this.lastChunkSize = size;
    this.remaining = size;
    if (size > 0) {
      this.state = 'data';
      return;
    }
    // The final chunk: its data is empty, so its CRLF is either the start
    // of the trailers or the blank line that ends the body.
    await this.verifyChunk();
    this.state = 'trailer';
  }

  private async verifyChunk(): Promise<void> {
    if (!this.signer || this.chunkHash === undefined) return;
    const hash = this.chunkHash.digest('hex');
    this.chunkHash = undefined;
    const expected = await this.signer.signChunk(
      this.previousSignature,
      this.lastChunkSize === 0 ? EMPTY_SHA256 : hash,
    );
    if (expected !== this.chunkSignature) {
      throw s3Error(
        'SignatureDoesNotMatch',
        'A chunk signature of the aws-chunked body does not match: check the secret access key and the signing code.',
      );
    }
    this.previousSignature = expected;
  }

  private addTrailer(text: string): void {
    const colon = text.indexOf(':');
    if (colon <= 0) throw malformed(`invalid trailer line "${text.slice(0, 60)}"`);
    const name = text.slice(0, colon).trim().toLowerCase();
    const value = text.slice(colon + 1).trim();
    if (name === 'x-amz-trailer-signature') {
      this.trailers.set(name, value);
      return;
    }
    this.trailers.set(name, value);
    this.trailerText += `${name}:${value}\n`;
  }

  private async verifyTrailer(): Promise<void> {
    const signature = this.trailers.get('x-amz-trailer-signature');
    if (!this.signer) return;
    if (signature === undefined) {
      if (this.signedTrailer)
        throw s3Error(
          'SignatureDoesNotMatch',
          'The aws-chunked body has no x-amz-trailer-signature although its payload is a signed one with a trailer.',
        );
      return;
    }
    const expected = await this.signer.signTrailer(this.previousSignature, this.trailerText);
    if (expected !== signature)
      throw s3Error(
        'SignatureDoesNotMatch',
        'The trailer signature of the aws-chunked body does not match.',
      );
  }
}

function malformed(detail: string) {
  return s3Error(
    'IncompleteBody',
    `The aws-chunked body is malformed: ${detail}; nothing was stored.`,
  );
}
