import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';

/** Data written between two background flushes. */
const FLUSH_EVERY = 8 * 1024 * 1024;

/**
 * Writes a stream to a file and fsyncs it before finishing. While data
 * arrives, it starts an fdatasync every 8 MiB in the background (one at a
 * time), so the disk flushes while the network is still sending and the
 * final fsync of a large object has little left to do. The caller closes
 * the handle.
 */
export class SyncedFileWriter extends Writable {
  private unflushed = 0;
  private flushing?: Promise<void>;

  constructor(private readonly handle: FileHandle) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _writev(
    chunks: Array<{ chunk: Buffer }>,
    callback: (error?: Error | null) => void,
  ): void {
    this.writeAll(chunks.map((entry) => entry.chunk)).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    (async () => {
      await this.flushing;
      await this.handle.sync();
    })().then(() => callback(), callback);
  }

  private async writeAll(buffers: Buffer[]): Promise<void> {
    let pending = buffers;
    let total = pending.reduce((sum, buffer) => sum + buffer.length, 0);
    this.unflushed += total;
    // writev may write fewer bytes than asked; write the rest until done.
    while (total > 0) {
      const { bytesWritten } = await this.handle.writev(pending);
      total -= bytesWritten;
      pending = skipBytes(pending, bytesWritten);
    }
    if (this.unflushed >= FLUSH_EVERY && !this.flushing) {
      this.unflushed = 0;
      this.flushing = this.handle.datasync().finally(() => {
        this.flushing = undefined;
      });
      // A failed background flush surfaces in the final fsync.
      this.flushing.catch(() => undefined);
    }
  }
}

function skipBytes(buffers: Buffer[], count: number): Buffer[] {
  const rest: Buffer[] = [];
  let skip = count;
  for (const buffer of buffers) {
    if (skip >= buffer.length) {
      skip -= buffer.length;
      continue;
    }
    rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
    skip = 0;
  }
  return rest;
}
