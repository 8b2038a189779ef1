import type pg from 'pg';

import { num, percent, plural } from './outcome.js';
import { USER_SCHEMA_FILTER } from './space.js';
import type { CheckDefinition, CheckStatus } from './types.js';

const wraparound: CheckDefinition = {
  id: 'maintenance.wraparound',
  group: 'maintenance',
  title: 'Transaction ID and multixact wraparound age',
  async run({ shared, client, thresholds }) {
    const { rows } = await client.query(`
      SELECT datname AS database, age(datfrozenxid) AS xid_age, mxid_age(datminmxid) AS multixact_age
        FROM pg_catalog.pg_database ORDER BY age(datfrozenxid) DESC`);
    const statusOf = (row: { xid_age: number; multixact_age: number }): CheckStatus =>
      row.xid_age >= thresholds.xidAgeFail || row.multixact_age >= thresholds.multixactAgeFail
        ? 'fail'
        : row.xid_age >= thresholds.xidAgeWarn || row.multixact_age >= thresholds.multixactAgeWarn
          ? 'warn'
          : 'ok';
    const statuses = rows.map(statusOf);
    const flagged = rows.filter((_row, index) => statuses[index] !== 'ok');
    const maxXid = Math.max(...rows.map((row) => row.xid_age));
    const maxMulti = Math.max(...rows.map((row) => row.multixact_age));
    // Wraparound stops writes about 2^31 transactions after the oldest unfrozen one.
    const share = (100 * Math.max(maxXid, maxMulti)) / 2 ** 31;
    const status: CheckStatus = statuses.includes('fail')
      ? 'fail'
      : statuses.includes('warn')
        ? 'warn'
        : 'ok';
    return {
      status,
      value: `xid ${maxXid.toLocaleString('en-US')}, multixact ${maxMulti.toLocaleString('en-US')} (${percent(share)} of the limit)`,
      threshold: `warn ≥ ${thresholds.xidAgeWarn.toLocaleString('en-US')}, fail ≥ ${thresholds.xidAgeFail.toLocaleString('en-US')} (xid and multixact)`,
      message:
        flagged.length > 0
          ? `${plural(flagged.length, 'database')} approaching wraparound: ${flagged.map((row) => `${row.database} xid ${row.xid_age.toLocaleString('en-US')}, multixact ${row.multixact_age.toLocaleString('en-US')}`).join('; ')}.`
          : 'Every database is far from wraparound.',
      fix:
        status === 'ok'
          ? null
          : 'VACUUM (FREEZE) the oldest tables of that database; look for old transactions, prepared transactions or slots holding the xmin horizon.',
      rows: rows.map((row, index) => ({ ...row, status: statuses[index] })),
    };
  },
};

interface TableMaintenance {
  schema: string;
  table: string;
  live_rows: number;
  dead_rows: number;
  last_vacuum: string | null;
  last_analyze: string | null;
  days_since_vacuum: number | null;
  days_since_analyze: number | null;
  modified_since_analyze: number;
}

async function readTableMaintenance(client: pg.Client): Promise<TableMaintenance[]> {
  const { rows } = await client.query(`
    SELECT schemaname AS schema, relname AS table, n_live_tup AS live_rows, n_dead_tup AS dead_rows,
           greatest(last_vacuum, last_autovacuum)::text AS last_vacuum,
           greatest(last_analyze, last_autoanalyze)::text AS last_analyze,
           extract(epoch FROM now() - greatest(last_vacuum, last_autovacuum))::float8 / 86400 AS days_since_vacuum,
           extract(epoch FROM now() - greatest(last_analyze, last_autoanalyze))::float8 / 86400 AS days_since_analyze,
           n_mod_since_analyze AS modified_since_analyze
      FROM pg_catalog.pg_stat_user_tables
     ORDER BY schemaname, relname`);
  return rows.map((row) => ({
    ...row,
    live_rows: Number(row.live_rows),
    dead_rows: Number(row.dead_rows),
    modified_since_analyze: Number(row.modified_since_analyze),
  }));
}

const vacuumAge: CheckDefinition = {
  id: 'maintenance.vacuum_age',
  group: 'maintenance',
  title: 'Tables never or long not vacuumed or analyzed',
  async run({ shared, client, thresholds }) {
    const days = thresholds.vacuumAgeDays;
    const tables = (await shared('tableMaintenance', () => readTableMaintenance(client))).filter(
      (table) => table.live_rows + table.dead_rows >= thresholds.maintenanceMinRows,
    );
    // A table needs vacuum when it has dead rows, and analyze when rows changed since the last one.
    const found = tables
      .map((table) => {
        const reasons: string[] = [];
        if (table.dead_rows > 0 && table.days_since_vacuum === null) reasons.push('never vacuumed');
        else if (table.dead_rows > 0 && table.days_since_vacuum! >= days)
          reasons.push(`not vacuumed for ${Math.floor(table.days_since_vacuum!)} days`);
        if (table.days_since_analyze === null) reasons.push('never analyzed');
        else if (table.modified_since_analyze > 0 && table.days_since_analyze >= days)
          reasons.push(`not analyzed for ${Math.floor(table.days_since_analyze)} days`);
        return { table, reasons };
      })
      .filter((entry) => entry.reasons.length > 0);
    return {
      status: found.length > 0 ? 'warn' : 'ok',
      value: String(found.length),
      threshold: `tables with ≥ ${thresholds.maintenanceMinRows} rows: never, or ≥ ${days} days ago with changes since`,
      message:
        found.length > 0
          ? `${plural(found.length, 'table')} needing maintenance: ${found
              .slice(0, 5)
              .map(
                (entry) =>
                  `${entry.table.schema}.${entry.table.table} (${entry.reasons.join(', ')})`,
              )
              .join('; ')}.`
          : 'Every table of that size has been vacuumed and analyzed recently enough.',
      fix:
        found.length > 0
          ? 'Run opsbox pg vacuum --analyze TABLE, and check that autovacuum is on and keeps up (autovacuum_naptime, cost limits).'
          : null,
      rows: found.map((entry) => ({ ...entry.table, reasons: entry.reasons })),
    };
  },
};

const deadTuples: CheckDefinition = {
  id: 'maintenance.dead_tuples',
  group: 'maintenance',
  title: 'Dead rows waiting for vacuum',
  async run({ shared, client, thresholds }) {
    const tables = await shared('tableMaintenance', () => readTableMaintenance(client));
    const found = tables
      .map((table) => ({
        ...table,
        dead_percent:
          table.live_rows + table.dead_rows === 0
            ? 0
            : (100 * table.dead_rows) / (table.live_rows + table.dead_rows),
      }))
      .filter(
        (table) =>
          table.dead_rows >= thresholds.maintenanceMinRows &&
          table.dead_percent >= thresholds.deadTupleWarnPercent,
      )
      .sort((a, b) => b.dead_rows - a.dead_rows);
    return {
      status: found.length > 0 ? 'warn' : 'ok',
      value: found.length > 0 ? `${found.length}, worst ${percent(found[0]!.dead_percent)}` : '0',
      threshold: `warn ≥ ${thresholds.deadTupleWarnPercent}% dead and ≥ ${thresholds.maintenanceMinRows} dead rows`,
      message:
        found.length > 0
          ? `${plural(found.length, 'table')} with many dead rows: ${found
              .slice(0, 5)
              .map(
                (table) =>
                  `${table.schema}.${table.table} ${table.dead_rows} (${percent(table.dead_percent)})`,
              )
              .join(', ')}.`
          : 'No table has that many dead rows.',
      fix:
        found.length > 0
          ? 'Run opsbox pg vacuum TABLE; if it recurs, lower autovacuum_vacuum_scale_factor for the table or look for old transactions holding the xmin horizon.'
          : null,
      rows: found.map((table) => ({
        schema: table.schema,
        table: table.table,
        live_rows: table.live_rows,
        dead_rows: table.dead_rows,
        dead_percent: Math.round(table.dead_percent * 10) / 10,
        last_vacuum: table.last_vacuum,
      })),
    };
  },
};

export interface SequenceUsage {
  schema: string;
  sequence: string;
  /** Owning column as table.column, when the sequence is owned by one (serial or identity). */
  column: string | null;
  column_type: string | null;
  last_value: string | null;
  /** The limit that comes first: the sequence's own maximum (minimum when descending) or the column type's. */
  limit: string;
  limited_by: 'sequence' | 'column type';
  /** Share of the range used, in percent; null when the sequence is unreadable. */
  used_percent: number | null;
  readable: boolean;
  cycle: boolean;
}

/**
 * Reads every sequence's use against the first limit it will hit. Reading
 * the value needs SELECT or USAGE on the sequence: pg_monitor alone is not
 * enough (pg_sequences shows NULL then, as it does before the first nextval),
 * and such a sequence is reported unreadable, never as 0%.
 */
export async function readSequences(client: pg.Client): Promise<SequenceUsage[]> {
  const { rows } = await client.query(`
    SELECT n.nspname AS schema, c.relname AS sequence, s.seqstart::text AS start, s.seqincrement::text AS increment,
           s.seqmax::text AS max, s.seqmin::text AS min, s.seqcycle AS cycle,
           pg_catalog.has_sequence_privilege(c.oid, 'SELECT') OR pg_catalog.has_sequence_privilege(c.oid, 'USAGE') AS readable,
           owner.column_name AS column, owner.column_type,
           -- NULL before the first nextval; only called where the role may read the value.
           CASE WHEN pg_catalog.has_sequence_privilege(c.oid, 'SELECT') OR pg_catalog.has_sequence_privilege(c.oid, 'USAGE')
                THEN pg_catalog.pg_sequence_last_value(c.oid)::text END AS last_value
      FROM pg_catalog.pg_sequence s
      JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN LATERAL (
            SELECT t.relname || '.' || a.attname AS column_name, format_type(a.atttypid, NULL) AS column_type
              FROM pg_catalog.pg_depend d
              JOIN pg_catalog.pg_class t ON t.oid = d.refobjid
              JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
             WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = s.seqrelid
               AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i')
             LIMIT 1) owner ON true
     WHERE ${USER_SCHEMA_FILTER}
     ORDER BY n.nspname, c.relname`);

  return rows.map((row) => sequenceUsage(row, row.last_value));
}

const TYPE_RANGE: Record<string, [bigint, bigint]> = {
  smallint: [-32768n, 32767n],
  integer: [-2147483648n, 2147483647n],
  bigint: [-9223372036854775808n, 9223372036854775807n],
};

function sequenceUsage(row: Record<string, any>, lastValue: string | null): SequenceUsage {
  const increment = BigInt(row.increment);
  const ascending = increment > 0n;
  const sequenceLimit = BigInt(ascending ? row.max : row.min);
  const typeRange = TYPE_RANGE[row.column_type as string];
  const typeLimit = ascending ? typeRange?.[1] : typeRange?.[0];
  const typeFirst =
    typeLimit !== undefined && (ascending ? typeLimit < sequenceLimit : typeLimit > sequenceLimit);
  const limit = typeFirst ? typeLimit! : sequenceLimit;
  const start = BigInt(row.start);
  const current = lastValue === null ? start - increment : BigInt(lastValue);

  // Share of the range from the start value to the limit that is already used.
  const span = ascending ? limit - start : start - limit;
  const used = ascending ? current - start + 1n : start - current + 1n;
  const usedPercent =
    span <= 0n ? 100 : Math.max(0, Number((used * 1_000_000n) / (span + 1n)) / 10_000);
  return {
    schema: row.schema,
    sequence: row.sequence,
    column: row.column,
    column_type: row.column_type,
    last_value: lastValue,
    limit: limit.toString(),
    limited_by: typeFirst ? 'column type' : 'sequence',
    used_percent: row.readable ? usedPercent : null,
    readable: row.readable,
    cycle: row.cycle,
  };
}

const sequences: CheckDefinition = {
  id: 'maintenance.sequences',
  group: 'maintenance',
  title: 'Sequences near their limit',
  async run({ shared, client, thresholds }) {
    const all = await readSequences(client);
    if (all.length === 0)
      return {
        status: 'n/a',
        value: null,
        threshold: null,
        message: 'No sequences in this database.',
        fix: null,
        rows: [],
      };
    const unreadable = all.filter((sequence) => !sequence.readable);
    // A cycling sequence wraps around by design, unless a column type stops it first.
    const measured = all.filter(
      (sequence) => sequence.readable && (!sequence.cycle || sequence.limited_by === 'column type'),
    );
    const near = measured
      .filter((sequence) => (sequence.used_percent ?? 0) >= thresholds.sequenceWarnPercent)
      .sort((a, b) => (b.used_percent ?? 0) - (a.used_percent ?? 0));
    const worstPercent = Math.max(0, ...measured.map((sequence) => sequence.used_percent ?? 0));
    let status: CheckStatus = 'ok';
    let fix: string | null = null;
    if (near.length > 0) {
      status = worstPercent >= thresholds.sequenceFailPercent ? 'fail' : 'warn';
      fix =
        'ALTER the column (and sequence) to bigint before it runs out; on a large table plan it as an online migration.';
    } else if (unreadable.length > 0) {
      status = 'no permission';
      fix =
        'GRANT SELECT ON the sequences to the role running opsbox, or run the doctor as their owner.';
    }
    const unreadableNote =
      unreadable.length > 0
        ? ` ${plural(unreadable.length, 'sequence')} unreadable (no SELECT or USAGE privilege): ${unreadable
            .slice(0, 5)
            .map((sequence) => `${sequence.schema}.${sequence.sequence}`)
            .join(', ')}.`
        : '';
    return {
      status,
      value: measured.length > 0 ? percent(worstPercent, 2) : 'unreadable',
      threshold: `warn ≥ ${thresholds.sequenceWarnPercent}%, fail ≥ ${thresholds.sequenceFailPercent}% of the column type or sequence limit`,
      message:
        (near.length > 0
          ? `${plural(near.length, 'sequence')} near the limit: ${near
              .slice(0, 5)
              .map((sequence) =>
                `${sequence.schema}.${sequence.sequence} ${percent(sequence.used_percent, 2)} of ${sequence.limited_by} ${sequence.column_type ?? ''} limit ${sequence.limit}`.replace(
                  '  ',
                  ' ',
                ),
              )
              .join(', ')}.`
          : `${plural(measured.length, 'sequence')} measured; none near its limit.`) +
        unreadableNote,
      fix,
      rows: [...near, ...unreadable].map((sequence) => ({ ...sequence })),
    };
  },
};

export const MAINTENANCE_CHECKS: CheckDefinition[] = [wraparound, vacuumAge, deadTuples, sequences];

export { num };
