import { createRequire } from 'node:module';

import type cliProgressTypes from 'cli-progress';

/** Scripts smaller than this finish before a bar would be worth drawing. */
const MIN_PROGRESS_CHARS = 1024 * 1024;

/** A progress bar over a script's characters, on stderr and only on a terminal. */
export function scriptProgress(
  total: number,
): { update(value: number): void; stop(): void } | undefined {
  if (!process.stderr.isTTY || total < MIN_PROGRESS_CHARS) return undefined;
  // Loaded on demand: most runs have no terminal or a small script.
  const cliProgress = createRequire(import.meta.url)('cli-progress') as typeof cliProgressTypes;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: 'executing [{bar}] {percentage}% | {eta_formatted} left',
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  let stopped = false;
  return {
    update: (value) => bar.update(value),
    stop() {
      if (!stopped) bar.stop();
      stopped = true;
    },
  };
}
