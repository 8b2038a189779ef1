import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import pg from 'pg';

import { BIN, runCli, tempDir } from '../helpers/cli.js';
import { startCluster, type TestCluster } from '../postgres/cluster.js';
import { startServe, waitFor, type Server } from './processes.js';

const WORKFLOWS: Record<string, string> = {
  // Fires every minute; two servers must start each fire once.
  'tick.yml':
    'on:\n  schedule:\n    - cron: "* * * * *"\njobs:\n  a:\n    steps:\n      - run: echo "tick ${{ github.event.schedule }}"\n',
  'work.yml':
    'on:\n  workflow_dispatch:\n    inputs:\n      n: {required: true}\njobs:\n  a:\n    steps:\n      - run: |\n          sleep 0.2\n          echo "item=${{ inputs.n }} key=${{ secrets.API_KEY }}"\n',
  'hang.yml':
    'on: workflow_dispatch\njobs:\n  a:\n    steps:\n      - run: |\n          echo "hang started"\n          sleep 60\n',
  // Ignores SIGTERM, so only SIGKILL after the grace time, or a second Ctrl+C, ends it.
  'stubborn.yml':
    'on: workflow_dispatch\njobs:\n  a:\n    steps:\n      - run: |\n          trap \'\' TERM\n          echo "hang started"\n          sleep 60\n',
  'group.yml':
    'on: workflow_dispatch\nconcurrency: deploy\njobs:\n  a:\n    steps:\n      - run: sleep 1\n',
  // Only a worker started with --labels gpu may take it.
  'gpu.yml':
    'on: workflow_dispatch\njobs:\n  a:\n    runs-on: [self-hosted, GPU]\n    steps:\n      - run: echo "on a gpu worker"\n',
};

interface Worker {
  child: ChildProcess;
  stderr: string;
}

/** Starts `opsbox worker` and waits for its banner. */
async function startWorker(
  dataDir: string,
  env: Record<string, string>,
  extra: string[] = [],
): Promise<Worker> {
  const child = spawn(
    process.execPath,
    [BIN, '--data-dir', dataDir, 'worker', '--concurrency', '4', ...extra],
    {
      env: { ...process.env, OPSBOX_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const worker: Worker = { child, stderr: '' };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`worker did not start: ${worker.stderr}`)),
      30_000,
    );
    child.stderr!.on('data', (chunk: Buffer) => {
      worker.stderr += chunk.toString();
      if (worker.stderr.includes('takes runs from PostgreSQL')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`worker exited with ${code}: ${worker.stderr}`)));
  });
  return worker;
}

describe('scale-out: two servers and three workers on one PostgreSQL', () => {
  const temp = tempDir('scale-out');
  const children: ChildProcess[] = [];
  let cluster: TestCluster;
  let db: pg.Client;
  let passed = false;
  const servers: Server[] = [];
  const workers: Worker[] = [];
  let token = '';
  const secretKey = randomBytes(32).toString('hex');
  let env: Record<string, string>;
  let serversStartedAt = 0;

  before(async () => {
    cluster = await startCluster(temp.dir, 'pg');
    await cluster.psql('CREATE DATABASE opsbox_state');
    env = {
      OPSBOX_DATABASE_URL: cluster.url('opsbox_state'),
      OPSBOX_SECRET_KEY: secretKey,
      OPSBOX_RUN_STALE_SECONDS: '3',
    };
    db = new pg.Client({
      connectionString: cluster.url('opsbox_state'),
      options: '-c search_path=opsbox',
    });
    await db.connect();
  });

  after(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await db?.end();
    await cluster?.stop();
    temp.cleanup(passed);
  });

  const api = async (server: number, method: string, route: string, body?: unknown) => {
    const response = await fetch(servers[server]!.url + route, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as any };
  };
  const rows = async (sql: string, values: unknown[] = []) =>
    (await db.query(sql, values)).rows as Record<string, any>[];
  /** Dispatches a run whose step prints "hang started", and waits until a worker runs it. */
  const dispatchUntilStarted = async (server: number, workflow: string) => {
    const { body } = await api(server, 'POST', `/workflows/${workflow}/dispatches`, {});
    const id = body.result.id as number;
    const owner = await waitFor(
      async () => {
        const [row] = await rows(
          `SELECT r.owner FROM workflow_runs r WHERE r.id = $1 AND r.status = 'running'
             AND EXISTS (SELECT 1 FROM workflow_log_lines l WHERE l.run_id = r.id AND l.line LIKE '%hang started%')`,
          [id],
        );
        return row?.owner as string | undefined;
      },
      `run ${id} of ${workflow} to start`,
      30_000,
    );
    return { id, owner };
  };

  it('starts two servers and three workers sharing the state store', async () => {
    for (const name of ['serve-a', 'serve-b']) {
      const dataDir = path.join(temp.dir, name);
      mkdirSync(path.join(dataDir, 'workflows'), { recursive: true });
      for (const [file, text] of Object.entries(WORKFLOWS))
        writeFileSync(path.join(dataDir, 'workflows', file), text);
    }
    // One token, created from another machine, works on both servers.
    const created = runCli(['token', 'create', 'test', '--json'], {
      dataDir: path.join(temp.dir, 'elsewhere'),
      env,
    });
    token = JSON.parse(created.stdout).token;
    const secret = runCli(['secret', 'set', 'API_KEY', '--body', 'k3y-shared-by-workers'], {
      dataDir: path.join(temp.dir, 'serve-a'),
      env,
    });
    assert.equal(secret.code, 0, secret.stderr);
    for (const name of ['serve-a', 'serve-b']) {
      const server = await startServe(path.join(temp.dir, name), env);
      children.push(server.child);
      servers.push(server);
    }
    serversStartedAt = Date.now();
    for (const name of ['worker-1', 'worker-2', 'worker-3']) {
      const extra = name === 'worker-3' ? ['--labels', 'gpu'] : [];
      const worker = await startWorker(path.join(temp.dir, name), env, extra);
      children.push(worker.child);
      workers.push(worker);
    }
    assert.equal((await api(0, 'GET', '/workflows')).status, 200);
    const listed = await api(1, 'GET', '/workflows');
    assert.deepEqual(
      listed.body.result.map((w: { id: string }) => w.id),
      ['gpu', 'group', 'hang', 'stubborn', 'tick', 'work'],
    );
  });

  it('reads runs with a role that may not create tables', async () => {
    await cluster.psql(
      `CREATE ROLE auditor LOGIN PASSWORD 'auditor-pw';
       GRANT USAGE ON SCHEMA opsbox TO auditor;
       GRANT SELECT ON ALL TABLES IN SCHEMA opsbox TO auditor;
       CREATE ROLE outsider LOGIN PASSWORD 'outsider-pw';`,
      'opsbox_state',
    );
    const as = (user: string) => ({
      ...env,
      OPSBOX_DATABASE_URL: cluster.url('opsbox_state', user, `${user}-pw`),
    });
    // Only dispatches run "work", so none exist yet; a scheduled "tick" run may have fired.
    const runs = runCli(['workflow', 'runs', 'work', '--json'], {
      dataDir: path.join(temp.dir, 'elsewhere'),
      env: as('auditor'),
    });
    assert.equal(runs.code, 0, runs.stderr);
    assert.deepEqual(JSON.parse(runs.stdout), []);
    const denied = runCli(['workflow', 'runs'], {
      dataDir: path.join(temp.dir, 'elsewhere'),
      env: as('outsider'),
    });
    assert.equal(denied.code, 8);
    assert.match(
      denied.stderr,
      /^opsbox: The role in OPSBOX_DATABASE_URL lacks a privilege on the PostgreSQL state store at 127\.0\.0\.1:\d+\/opsbox_state: permission denied for (schema|database) opsbox/,
    );
  });

  it('rejects a process whose secret key differs from the cluster key', async () => {
    const otherKey = { ...env, OPSBOX_SECRET_KEY: randomBytes(32).toString('hex') };
    const expected =
      /^opsbox: The secret key of this process differs from the one the PostgreSQL state store at 127\.0\.0\.1:\d+\/opsbox_state was set up with\. Set OPSBOX_SECRET_KEY to the same value on every server and worker\.\n$/;
    const secret = runCli(['secret', 'set', 'OTHER', '--body', 'value-1'], {
      dataDir: path.join(temp.dir, 'elsewhere'),
      env: otherKey,
    });
    assert.equal(secret.code, 8);
    assert.match(secret.stderr, expected);
    const worker = runCli(['worker'], { dataDir: path.join(temp.dir, 'worker-x'), env: otherKey });
    assert.equal(worker.code, 8);
    assert.match(worker.stderr, expected);
    const listed = runCli(['secret', 'list', '--json'], {
      dataDir: path.join(temp.dir, 'elsewhere'),
      env,
    });
    assert.deepEqual(
      JSON.parse(listed.stdout).map((secret: { name: string }) => secret.name),
      ['API_KEY'],
    );
  });

  it('runs each dispatched run once, spread over the workers', async () => {
    const ids: number[] = [];
    for (let n = 1; n <= 24; n++) {
      const { status, body } = await api(n % 2, 'POST', '/workflows/work/dispatches', {
        inputs: { n: String(n) },
      });
      assert.equal(status, 201, JSON.stringify(body));
      ids.push(body.result.id);
    }
    assert.equal(new Set(ids).size, 24);
    await waitFor(
      async () => {
        const [row] = await rows(
          "SELECT count(*)::int AS open FROM workflow_runs WHERE workflow = 'work' AND status IN ('queued', 'running')",
        );
        return row!.open === 0 ? true : undefined;
      },
      'the dispatched runs to finish',
      60_000,
    );
    const runs = await rows(
      "SELECT id, number, status, owner FROM workflow_runs WHERE workflow = 'work' ORDER BY number",
    );
    assert.deepEqual(
      runs.map((run) => [run.number, run.status]),
      ids.map((_, index) => [index + 1, 'success']),
    );
    const owners = new Set(runs.map((run) => String(run.owner).split(':').slice(0, 2).join(':')));
    const workerIds = new Set(workers.map((worker) => `${hostname()}:${worker.child.pid}`));
    for (const owner of owners) assert.ok(workerIds.has(owner), `unknown owner ${owner}`);
    assert.ok(owners.size >= 2, `all runs went to one worker: ${[...owners].join(', ')}`);
    // No worker ran more runs at once than its --concurrency of 4.
    const timed = await rows(
      "SELECT owner, started_at, finished_at FROM workflow_runs WHERE workflow = 'work'",
    );
    for (const run of timed) {
      const overlapping = timed.filter(
        (other) =>
          other.owner === run.owner &&
          other.started_at <= run.started_at &&
          other.finished_at > run.started_at,
      );
      assert.ok(overlapping.length <= 4, `${overlapping.length} runs at once on ${run.owner}`);
    }
    // Each run executed its step exactly once, and its log shows the item once with the secret masked.
    const lines = await rows(
      `SELECT r.number, l.line FROM workflow_log_lines l JOIN workflow_runs r ON r.id = l.run_id
        WHERE r.workflow = 'work' AND l.line LIKE '%item=%' ORDER BY r.number`,
    );
    assert.deepEqual(
      lines.map((row) => [row.number, JSON.parse(row.line).text]),
      ids.map((_, index) => [index + 1, `item=${index + 1} key=***`]),
    );
    const attempts = await rows(
      "SELECT count(*)::int AS steps, sum(attempts)::int AS attempts FROM workflow_steps s JOIN workflow_runs r ON r.id = s.run_id WHERE r.workflow = 'work'",
    );
    assert.deepEqual(attempts[0], { steps: 24, attempts: 24 });
  });

  it('runs a concurrency group one at a time and replaces its pending run', async () => {
    const ids: number[] = [];
    for (const server of [0, 1, 0])
      ids.push((await api(server, 'POST', '/workflows/group/dispatches', {})).body.result.id);
    await waitFor(
      async () => {
        const open = await rows(
          "SELECT 1 FROM workflow_runs WHERE workflow = 'group' AND status IN ('queued', 'running')",
        );
        return open.length === 0 ? true : undefined;
      },
      'the group to finish',
      30_000,
    );
    const runs = await rows(
      "SELECT id, status, started_at, finished_at FROM workflow_runs WHERE workflow = 'group' ORDER BY id",
    );
    assert.deepEqual(
      runs.map((run) => [run.id, run.status]),
      [
        [ids[0], 'success'],
        [ids[1], 'cancelled'],
        [ids[2], 'success'],
      ],
    );
    assert.ok(runs[2]!.started_at >= runs[0]!.finished_at, 'the group ran two runs at once');
  });

  it('gives runs-on labels only to a worker that has them', async () => {
    const ids: number[] = [];
    for (let n = 0; n < 4; n++)
      ids.push((await api(n % 2, 'POST', '/workflows/gpu/dispatches', {})).body.result.id);
    await waitFor(
      async () => {
        const open = await rows(
          "SELECT 1 FROM workflow_runs WHERE workflow = 'gpu' AND status IN ('queued', 'running')",
        );
        return open.length === 0 ? true : undefined;
      },
      'the labelled runs to finish',
      30_000,
    );
    const runs = await rows(
      "SELECT status, split_part(owner, ':', 2) AS pid FROM workflow_runs WHERE workflow = 'gpu'",
    );
    assert.deepEqual(
      runs.map((run) => [run.status, Number(run.pid)]),
      ids.map(() => ['success', workers[2]!.child.pid]),
    );
  });

  it('cancels a run on a worker from the CLI of another machine', async () => {
    const { id } = await dispatchUntilStarted(1, 'hang');
    const cancel = runCli(['workflow', 'cancel', String(id)], {
      dataDir: path.join(temp.dir, 'elsewhere'),
      env,
    });
    assert.equal(cancel.code, 0, cancel.stderr);
    const run = await waitFor(
      async () => {
        const [row] = await rows('SELECT status FROM workflow_runs WHERE id = $1', [id]);
        return row!.status === 'running' ? undefined : row!.status;
      },
      'the cancelled run to end',
      15_000,
    );
    assert.equal(run, 'cancelled');
  });

  it('runs a workflow in the terminal and records it in PostgreSQL', async () => {
    const file = path.join(temp.dir, 'serve-a', 'workflows', 'work.yml');
    const result = runCli(['workflow', 'run', file, '--input', 'n=cli'], {
      dataDir: path.join(temp.dir, 'elsewhere'),
      env,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^a \| item=cli key=\*\*\*$/m);
    const [run] = await rows(
      "SELECT status, owner FROM workflow_runs WHERE workflow = 'work' ORDER BY id DESC LIMIT 1",
    );
    assert.equal(run!.status, 'success');
    // Executed by the CLI process itself (host:pid), not by a worker (host:pid:id).
    assert.match(run!.owner, new RegExp(`^${hostname()}:\\d+$`));
    const listed = runCli(['workflow', 'runs', 'work', '--json', '--limit', '1'], {
      dataDir: path.join(temp.dir, 'serve-b'),
      env,
    });
    assert.equal(JSON.parse(listed.stdout)[0].inputs.n, 'cli');
  });

  it('stops a run on its worker once another process marked it interrupted', async () => {
    const { id, owner } = await dispatchUntilStarted(0, 'hang');
    // A paused worker sends no heartbeats, as one cut off from the network would.
    const pid = Number(owner.split(':')[1]);
    process.kill(pid, 'SIGSTOP');
    try {
      await waitFor(
        async () => {
          const [row] = await rows('SELECT status FROM workflow_runs WHERE id = $1', [id]);
          return row!.status === 'interrupted' ? true : undefined;
        },
        'the silent run to be marked',
        30_000,
      );
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    const last = await waitFor(
      async () => {
        const [row] = await rows(
          'SELECT line FROM workflow_log_lines WHERE run_id = $1 ORDER BY seq DESC LIMIT 1',
          [id],
        );
        const text = row ? (JSON.parse(row.line).text as string) : '';
        return text.startsWith('Run finished') ? text : undefined;
      },
      'the worker to stop the run',
      30_000,
    );
    assert.equal(last, 'Run finished: interrupted.');
    const [run] = await rows('SELECT status, error FROM workflow_runs WHERE id = $1', [id]);
    assert.equal(run!.status, 'interrupted');
    assert.match(run!.error, /sent no heartbeat for 3 s/);
  });

  it('interrupts the run of a killed worker', async () => {
    const { id, owner } = await dispatchUntilStarted(0, 'hang');
    const pid = Number(owner.split(':')[1]);
    const victim = workers.find((worker) => worker.child.pid === pid)!;
    assert.ok(victim, `no worker with pid ${pid}`);
    victim.child.kill('SIGKILL');
    const lost = await waitFor(
      async () => {
        const [row] = await rows('SELECT status, error FROM workflow_runs WHERE id = $1', [id]);
        return row!.status === 'running' ? undefined : row;
      },
      'the lost run to be marked',
      30_000,
    );
    assert.deepEqual(lost, {
      status: 'interrupted',
      error:
        'The process running this run sent no heartbeat for 3 s (it was killed, or lost the state store); it was marked interrupted.',
    });
    const [step] = await rows('SELECT status FROM workflow_steps WHERE run_id = $1', [id]);
    assert.equal(step!.status, 'cancelled');
    const followed = runCli(['workflow', 'logs', String(id), '--follow'], {
      dataDir: path.join(temp.dir, 'elsewhere'),
      env,
    });
    assert.equal(followed.code, 0);
    assert.match(followed.stdout, /^a \| hang started$/m);
    assert.equal(followed.stderr, `Run ${id} was interrupted: ${lost.error}\n`);

    const after = await api(1, 'POST', '/workflows/work/dispatches', { inputs: { n: 'after' } });
    const finished = await waitFor(
      async () => {
        const run = (await api(0, 'GET', `/workflows/runs/${after.body.result.id}`)).body.result;
        return run.status === 'success' ? run : undefined;
      },
      'a run after the kill',
      30_000,
    );
    assert.notEqual(finished.owner.split(':')[1], String(pid));
  });

  it('records the runs of a worker stopped with a second Ctrl+C', async () => {
    const { id, owner } = await dispatchUntilStarted(0, 'stubborn');
    const worker = workers.find((w) => w.child.pid === Number(owner.split(':')[1]))!;
    const exited = new Promise((resolve) => worker.child.once('exit', resolve));
    worker.child.kill('SIGINT');
    await sleep(300);
    worker.child.kill('SIGINT');
    assert.equal(await exited, 130);
    const [run] = await rows('SELECT status, error FROM workflow_runs WHERE id = $1', [id]);
    assert.deepEqual(run, {
      status: 'interrupted',
      error: 'The worker was stopped at once (a second SIGINT or SIGTERM); its steps were killed.',
    });
  });

  it('starts each scheduled fire once although both servers schedule it', async () => {
    // The first minute boundary after both servers started, plus time for the scheduler's tick.
    const boundary = Math.ceil(serversStartedAt / 60_000) * 60_000;
    await sleep(Math.max(0, boundary - Date.now()) + 5_000);
    const fires = await rows(
      "SELECT planned_at, status, run_id FROM schedule_fires WHERE workflow = 'tick' ORDER BY planned_at",
    );
    assert.ok(fires.length >= 1, 'no schedule fire was recorded');
    for (const fire of fires) assert.equal(fire.status, 'started');
    const runs = await rows(
      "SELECT planned_at, status FROM workflow_runs WHERE workflow = 'tick' ORDER BY planned_at",
    );
    assert.deepEqual(
      runs.map((run) => run.planned_at),
      fires.map((fire) => fire.planned_at),
    );
    const ran = await waitFor(
      async () => {
        const open = await rows(
          "SELECT 1 FROM workflow_runs WHERE workflow = 'tick' AND status IN ('queued', 'running')",
        );
        return open.length === 0 ? true : undefined;
      },
      'the scheduled runs to finish',
      30_000,
    );
    assert.equal(ran, true);
    const statuses = await rows(
      "SELECT DISTINCT status FROM workflow_runs WHERE workflow = 'tick'",
    );
    assert.deepEqual(statuses, [{ status: 'success' }]);
    passed = true;
  });
});
