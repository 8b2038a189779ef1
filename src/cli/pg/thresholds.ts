import { UserError } from '../../core/errors.js';
import { DEFAULT_THRESHOLDS, type DoctorThresholds } from '../../postgres/index.js';

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1024,
  kib: 1024,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

/** Time units in milliseconds. */
const TIME_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

function pick(units: Record<string, number>, names: string[]): Record<string, number> {
  return Object.fromEntries(names.map((name) => [name, units[name]!]));
}

interface ThresholdKind {
  /** The expected value, as the error message states it. */
  expected: string;
  /** Units the value may carry, each with its size in the base unit (bytes, milliseconds). */
  units: Record<string, number>;
  /** Size of the threshold's own unit in the base unit, when it differs from the base. */
  scale?: number;
  max?: number;
  integer?: boolean;
}

const KINDS = {
  percent: { expected: 'a percentage from 0 to 100', units: { '%': 1 }, max: 100 },
  bytes: {
    expected: 'a size of 0 or more bytes, with an optional unit kB, MB, GB or TB (such as 5GB)',
    units: SIZE_UNITS,
  },
  seconds: {
    expected:
      'a duration of 0 or more seconds, with an optional unit s, min, h or d (such as 5min)',
    units: pick(TIME_UNITS, ['s', 'min', 'h', 'd']),
    scale: TIME_UNITS.s,
  },
  days: {
    expected: 'a duration of 0 or more days, with an optional unit h or d (such as 7d)',
    units: pick(TIME_UNITS, ['h', 'd']),
    scale: TIME_UNITS.d,
  },
  milliseconds: {
    expected: 'a duration of 0 or more milliseconds, with an optional unit ms or s (such as 250ms)',
    units: pick(TIME_UNITS, ['ms', 's']),
  },
  count: { expected: 'a whole number of 0 or more', units: {}, integer: true },
} satisfies Record<string, ThresholdKind>;

/** Derives what a threshold measures from the suffix of its name. */
function kindOf(name: string): ThresholdKind {
  if (/Percent$/.test(name)) return KINDS.percent;
  if (/Bytes(Warn)?$/.test(name)) return KINDS.bytes;
  if (/Seconds$/.test(name)) return KINDS.seconds;
  if (/Days$/.test(name)) return KINDS.days;
  if (/Ms$/.test(name)) return KINDS.milliseconds;
  return KINDS.count;
}

/**
 * Parses `name=value` overrides of the doctor's thresholds. A value may
 * carry a unit that fits its threshold: a size unit for bytes, a time unit
 * for durations, `%` for percentages. A time unit converts to the unit in
 * the threshold's name, so `vacuumAgeDays=36h` is 1.5 days.
 */
export function parseThresholds(values: string[]): Partial<DoctorThresholds> {
  const result: Partial<DoctorThresholds> = {};
  for (const item of values) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(item);
    const name = match?.[1] as keyof DoctorThresholds | undefined;
    if (!match || !name || !(name in DEFAULT_THRESHOLDS)) {
      throw new UserError(
        'usage',
        `Invalid --threshold "${item}": use NAME=VALUE with one of ${Object.keys(DEFAULT_THRESHOLDS).join(', ')}.`,
        { code: 'PG_THRESHOLD_INVALID' },
      );
    }
    result[name] = parseValue(name, match[2]!.trim());
  }
  return result;
}

function parseValue(name: string, text: string): number {
  const kind = kindOf(name);
  const match = /^(\d+(?:\.\d+)?)\s*([A-Za-z%]*)$/.exec(text);
  const unit = match?.[2]?.toLowerCase() ?? '';
  const factor = unit === '' ? undefined : kind.units[unit];
  const number = Number(match?.[1]);
  const value = factor === undefined ? number : (number * factor) / (kind.scale ?? 1);

  const valid =
    match !== null &&
    (unit === '' || factor !== undefined) &&
    (kind.max === undefined || value <= kind.max) &&
    (!kind.integer || Number.isInteger(value));
  if (!valid) {
    throw new UserError(
      'usage',
      `Invalid value "${text}" for threshold ${name}: expected ${kind.expected}.`,
      { code: 'PG_THRESHOLD_INVALID' },
    );
  }
  return value;
}
