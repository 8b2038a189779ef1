import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseThresholds } from '../../src/cli/pg/thresholds.js';
import { DEFAULT_THRESHOLDS } from '../../src/postgres/index.js';

describe('parseThresholds', () => {
  it('converts units to the threshold unit', () => {
    assert.deepEqual(
      parseThresholds([
        'longQuerySeconds=5min',
        'slotRetainedWarnBytes=5GB',
        'vacuumAgeDays=36h',
        'slowQueryMeanMs=2s',
        'cacheHitWarnPercent=98.5%',
        'xidAgeWarn=1000000',
      ]),
      {
        longQuerySeconds: 300,
        slotRetainedWarnBytes: 5 * 1024 ** 3,
        vacuumAgeDays: 1.5,
        slowQueryMeanMs: 2000,
        cacheHitWarnPercent: 98.5,
        xidAgeWarn: 1_000_000,
      },
    );
  });

  it('accepts every default value', () => {
    const texts = Object.entries(DEFAULT_THRESHOLDS).map(([name, value]) => `${name}=${value}`);
    assert.deepEqual(parseThresholds(texts), DEFAULT_THRESHOLDS);
  });

  it('names the threshold, value and expected range', () => {
    const cases: [string, string][] = [
      [
        'longQuerySeconds=abc',
        'Invalid value "abc" for threshold longQuerySeconds: expected a duration of 0 or more seconds, with an optional unit s, min, h or d (such as 5min).',
      ],
      [
        'longQuerySeconds=5GB',
        'Invalid value "5GB" for threshold longQuerySeconds: expected a duration of 0 or more seconds, with an optional unit s, min, h or d (such as 5min).',
      ],
      [
        'tempBytesWarn=-1',
        'Invalid value "-1" for threshold tempBytesWarn: expected a size of 0 or more bytes, with an optional unit kB, MB, GB or TB (such as 5GB).',
      ],
      [
        'connectionsWarnPercent=120',
        'Invalid value "120" for threshold connectionsWarnPercent: expected a percentage from 0 to 100.',
      ],
      [
        'vacuumAgeDays=30s',
        'Invalid value "30s" for threshold vacuumAgeDays: expected a duration of 0 or more days, with an optional unit h or d (such as 7d).',
      ],
      [
        'slowQueryMeanMs=',
        'Invalid value "" for threshold slowQueryMeanMs: expected a duration of 0 or more milliseconds, with an optional unit ms or s (such as 250ms).',
      ],
      [
        'seqScanMinRows=10.5',
        'Invalid value "10.5" for threshold seqScanMinRows: expected a whole number of 0 or more.',
      ],
    ];
    for (const [text, message] of cases) {
      assert.throws(() => parseThresholds([text]), { kind: 'usage', message }, text);
    }
  });

  it('lists the names for an unknown threshold', () => {
    assert.throws(() => parseThresholds(['longQuery=5']), {
      message:
        /^Invalid --threshold "longQuery=5": use NAME=VALUE with one of connectionsWarnPercent, /,
    });
  });
});
