import type { Logger } from 'pino';

export type { Logger };

/**
 * Creates the process logger. The level comes from OPSBOX_LOG_LEVEL (default
 * `info`); lines go to stderr as JSON so stdout stays free for command output.
 * Callers add scope fields with `logger.child({ database, run, bucket })`.
 * pino is imported here, on demand, because loading it costs about 40 ms
 * that short CLI commands should not pay.
 */
export async function createLogger(
  options: { level?: string; destination?: NodeJS.WritableStream } = {},
): Promise<Logger> {
  const { default: pino } = await import('pino');
  const level = options.level ?? process.env.OPSBOX_LOG_LEVEL ?? 'info';
  return pino(
    {
      level,
      base: { service: 'opsbox' },
      redact: {
        paths: [
          'req.headers.authorization',
          'headers.authorization',
          '*.password',
          '*.secretAccessKey',
          '*.token',
        ],
        censor: '***',
      },
    },
    options.destination ?? pino.destination({ fd: 2, sync: false }),
  );
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

/** A logger that drops everything, for CLI commands and tests that do not serve. */
export function silentLogger(): Logger {
  const logger: Record<string, unknown> = {
    level: 'silent',
    isLevelEnabled: () => false,
    child: () => logger,
  };
  for (const level of LEVELS) logger[level] = () => undefined;
  return logger as unknown as Logger;
}
