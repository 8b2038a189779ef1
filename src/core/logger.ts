import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Creates the process logger. The level comes from OPSBOX_LOG_LEVEL (default
 * `info`); lines go to stderr as JSON so stdout stays free for command output.
 * Callers add scope fields with `logger.child({ database, run, bucket })`.
 */
export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const level = options.level ?? process.env.OPSBOX_LOG_LEVEL ?? 'info';
  return pino(
    {
      level,
      base: { service: 'opsbox' },
      redact: {
        paths: ['req.headers.authorization', 'headers.authorization', '*.password', '*.secretAccessKey', '*.token'],
        censor: '***',
      },
    },
    options.destination ?? pino.destination({ fd: 2, sync: false }),
  );
}

/** A logger that drops everything, for CLI commands and tests that do not serve. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
