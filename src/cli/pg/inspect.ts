import {
  listActivity,
  readCache,
  readIndexReport,
  readReplication,
  readSizes,
} from '../../postgres/index.js';
import type { CommandSpec } from '../command.js';
import { formatBytes, printJson, printTable } from '../output.js';
import { cell, CONNECTION_OPTIONS, connectionOptions, JSON_OPTION } from './common.js';

const size = (value: number | null) => (value === null ? '' : formatBytes(value));

export const activityCommand: CommandSpec = {
  name: 'activity [url]',
  summary: 'List active sessions with their query, age, wait event and blockers',
  options: [
    ...CONNECTION_OPTIONS,
    { flags: '--all', description: 'include idle sessions and background processes' },
    JSON_OPTION,
  ],
  async run(input) {
    const backends = await listActivity({
      ...connectionOptions(input, input.args[0]),
      all: input.options.all,
    });
    if (input.options.json) return printJson(backends);
    printTable(
      ['pid', 'user', 'database', 'state', 'query s', 'xact s', 'wait', 'blocked by', 'query'],
      backends.map((backend) => [
        backend.pid,
        backend.user ?? '',
        backend.database ?? '',
        backend.visible
          ? (backend.state ?? backend.backend_type ?? '')
          : '(hidden: needs pg_monitor)',
        cell(backend.query_seconds),
        cell(backend.transaction_seconds),
        backend.wait_event ?? '',
        backend.blocked_by.join(', '),
        (backend.query ?? '').replace(/\s+/g, ' ').slice(0, 80),
      ]),
      'No active sessions (use --all to include idle ones).',
    );
  },
};

export const sizesCommand: CommandSpec = {
  name: 'sizes [url]',
  summary: 'Show database sizes and the largest tables with heap, TOAST and index sizes',
  options: [
    ...CONNECTION_OPTIONS,
    { flags: '--limit <n>', description: 'number of tables to list', default: '20' },
    JSON_OPTION,
  ],
  async run(input) {
    const report = await readSizes({
      ...connectionOptions(input, input.args[0]),
      limit: Number(input.options.limit),
    });
    if (input.options.json) return printJson(report);
    printTable(
      ['database', 'size', 'temp files', 'temp bytes'],
      report.databases.map((row) => [
        row.database,
        size(row.bytes),
        row.temp_files ?? '',
        size(row.temp_bytes),
      ]),
    );
    printTable(
      ['table', 'kind', 'rows (est.)', 'table', 'TOAST', 'indexes', 'total'],
      report.tables.map((row) => [
        `${row.schema}.${row.table}`,
        row.kind,
        row.rows_estimate ?? '',
        size(row.table_bytes),
        size(row.toast_bytes),
        size(row.index_bytes),
        size(row.total_bytes),
      ]),
      'No user tables.',
    );
  },
};

export const indexesCommand: CommandSpec = {
  name: 'indexes [url]',
  summary:
    'List indexes with scans and size; flag unused, duplicate and invalid ones and unindexed foreign keys',
  options: [...CONNECTION_OPTIONS, JSON_OPTION],
  async run(input) {
    const report = await readIndexReport(connectionOptions(input, input.args[0]));
    if (input.options.json) return printJson(report);
    const duplicates = new Map(
      report.duplicates.map((row) => [`${row.schema}.${row.index}`, row.covered_by]),
    );
    printTable(
      ['index', 'table', 'method', 'scans', 'size', 'finding'],
      report.indexes.map((index) => {
        const findings: string[] = [];
        if (!index.valid) findings.push('invalid');
        if (index.scans === 0 && !index.unique && !index.constraint) findings.push('unused');
        const cover = duplicates.get(`${index.schema}.${index.name}`);
        if (cover) findings.push(`duplicate of ${cover}`);
        return [
          `${index.schema}.${index.name}`,
          index.table,
          index.method,
          index.scans ?? '',
          formatBytes(index.bytes),
          findings.join(', '),
        ];
      }),
      'No indexes.',
    );
    if (report.foreignKeysWithoutIndex.length > 0) {
      printTable(
        ['foreign key without an index', 'columns', 'references'],
        report.foreignKeysWithoutIndex.map((row) => [
          `${row.schema}.${row.table}.${row.constraint}`,
          row.columns,
          row.references,
        ]),
      );
    }
  },
};

export const cacheCommand: CommandSpec = {
  name: 'cache [url]',
  summary: 'Show cache hit ratios of databases and of the busiest tables and indexes',
  options: [
    ...CONNECTION_OPTIONS,
    { flags: '--limit <n>', description: 'number of tables and of indexes to list', default: '20' },
    JSON_OPTION,
  ],
  async run(input) {
    const ratios = await readCache({
      ...connectionOptions(input, input.args[0]),
      limit: Number(input.options.limit),
    });
    if (input.options.json) return printJson(ratios);
    printTable(
      ['scope', 'name', 'hits', 'reads', 'hit %'],
      ratios.map((row) => [
        row.scope,
        row.name,
        row.hits,
        row.reads,
        row.hit_percent === null ? 'n/a' : row.hit_percent.toFixed(2),
      ]),
    );
  },
};

export const replicationCommand: CommandSpec = {
  name: 'replication [url]',
  summary:
    'Show replication slots, connected standbys and, on a standby, the WAL receiver and replay lag',
  options: [...CONNECTION_OPTIONS, JSON_OPTION],
  async run(input) {
    const report = await readReplication(connectionOptions(input, input.args[0]));
    if (input.options.json) return printJson(report);
    process.stdout.write(
      `This server is a ${report.role}; WAL position ${report.lsn ?? 'unknown'}.\n`,
    );
    printTable(
      ['slot', 'type', 'database', 'active', 'wal_status', 'retained WAL'],
      report.slots.map((slot) => [
        slot.slot_name,
        slot.slot_type,
        slot.database ?? '',
        slot.active,
        slot.wal_status ?? '',
        slot.retained_bytes === null ? 'unknown (WAL removed)' : formatBytes(slot.retained_bytes),
      ]),
      'No replication slots.',
    );
    printTable(
      ['standby', 'address', 'state', 'sync', 'replay lag', 'replay lag s'],
      report.standbys.map((row) => [
        row.application_name ?? '',
        row.client_addr ?? '',
        row.state ?? '(hidden: needs pg_monitor)',
        row.sync_state ?? '',
        size(row.replay_lag_bytes),
        cell(row.replay_lag_seconds),
      ]),
      'No standbys connected.',
    );
    if (report.receiver) {
      const receiver = report.receiver;
      printTable(
        ['receiver', 'sender', 'slot', 'received', 'replayed', 'replay lag', 'paused'],
        [
          [
            receiver.status ?? 'not running',
            receiver.sender ?? '',
            receiver.slot ?? '',
            receiver.receive_lsn ?? '',
            receiver.replay_lsn ?? '',
            size(receiver.replay_lag_bytes),
            receiver.paused,
          ],
        ],
      );
    }
  },
};
