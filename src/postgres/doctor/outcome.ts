import type { CheckOutcome, CheckStatus } from './types.js';

const RANK: Record<CheckStatus, number> = {
  'n/a': 0,
  ok: 1,
  warn: 2,
  'no permission': 3,
  error: 4,
  fail: 5,
};

/** The most severe of the statuses; `ok` for an empty list. */
export function worst(statuses: CheckStatus[]): CheckStatus {
  return statuses.reduce<CheckStatus>(
    (current, next) => (RANK[next] > RANK[current] ? next : current),
    'ok',
  );
}

export function notApplicable(message: string): CheckOutcome {
  return { status: 'n/a', value: null, threshold: null, message, fix: null, rows: [] };
}

/** Formats bytes with binary units: 1536 → "1.5 KiB". */
export function bytes(value: number | null | undefined): string {
  if (value === null || value === undefined) return 'unknown';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let scaled = value;
  let unit = 0;
  while (Math.abs(scaled) >= 1024 && unit < units.length - 1) {
    scaled /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${scaled.toFixed(1)} ${units[unit]}`;
}

export function percent(value: number | null | undefined, digits = 1): string {
  return value === null || value === undefined ? 'n/a' : `${value.toFixed(digits)}%`;
}

export function seconds(value: number): string {
  if (value < 120) return `${value.toFixed(1)} s`;
  if (value < 7200) return `${(value / 60).toFixed(1)} min`;
  if (value < 172_800) return `${(value / 3600).toFixed(1)} h`;
  return `${(value / 86_400).toFixed(1)} d`;
}

/** Converts a numeric column (int8 and numeric arrive as strings) to a number; null stays null. */
export function num(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  return Number(value);
}

export function plural(count: number, singular: string, pluralForm = singular + 's'): string {
  return `${count} ${count === 1 ? singular : pluralForm}`;
}
