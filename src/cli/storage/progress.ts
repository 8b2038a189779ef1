import { Transform } from 'node:stream';

import cliProgress from 'cli-progress';

/** Transfers smaller than this finish before a bar would be worth drawing. */
const MIN_PROGRESS_BYTES = 8 * 1024 * 1024;

export interface ByteProgress {
  /** Creates a pass-through stream that advances the bar by the bytes it passes. */
  counter(): Transform;
  advance(bytes: number): void;
  stop(): void;
}

/** Creates a progress bar in bytes on stderr, only on a terminal and for large transfers. */
export function byteProgress(label: string, total: number): ByteProgress | undefined {
  if (!process.stderr.isTTY || total < MIN_PROGRESS_BYTES) return undefined;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {percentage}% | {value}/{total} MiB | {eta_formatted} left`,
      hideCursor: true,
      clearOnComplete: true,
      formatValue: (value, _options, type) =>
        type === 'value' || type === 'total' ? (value / 1048576).toFixed(1) : String(value),
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  let done = 0;
  let stopped = false;
  const advance = (bytes: number) => {
    done += bytes;
    bar.update(done);
  };
  return {
    advance,
    counter: () =>
      new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          advance(chunk.length);
          callback(null, chunk);
        },
      }),
    stop() {
      if (!stopped) bar.stop();
      stopped = true;
    },
  };
}
