import { UserError } from '../../core/errors.js';
import type { RunRecord } from '../../workflows/store.js';

/** Seconds between two ISO times, one decimal, or '-' while unknown. */
export function duration(start: string | null, end: string | null): string {
  if (!start) return '-';
  const ms = (end ? Date.parse(end) : Date.now()) - Date.parse(start);
  return `${(ms / 1000).toFixed(1)}s`;
}

export function runRow(run: RunRecord): unknown[] {
  return [
    run.id,
    run.workflow,
    `#${run.number}`,
    run.event,
    run.status,
    run.startedAt ?? '-',
    duration(run.startedAt, run.finishedAt),
  ];
}

export const RUN_COLUMNS = ['run', 'workflow', 'number', 'event', 'status', 'started', 'duration'];

/** Parses a run id argument. */
export function parseRunId(text: string): number {
  const id = Number(text);
  if (!Number.isInteger(id) || id <= 0) {
    throw new UserError(
      'usage',
      `Invalid run id "${text}": use the number shown by \`opsbox workflow runs\`.`,
    );
  }
  return id;
}
