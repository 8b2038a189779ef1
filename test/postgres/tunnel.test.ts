import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import pg from 'pg';

import { dumpDatabase, runDoctor } from '../../src/postgres/index.js';
import { BIN, runCliAsync, tempDir } from '../helpers/cli.js';
import { startCluster, SUPERUSER_PASSWORD, type TestCluster } from './cluster.js';
import { makeKey, startSshd, type TestSshd } from './sshd.js';

describe('pg through an SSH bastion (OpenSSH)', () => {
  const temp = tempDir('pg-tunnel');
  let cluster: TestCluster;
  let sshd: TestSshd;
  let bastion: string;

  before(async () => {
    cluster = await startCluster(temp.dir, 'db');
    await cluster.psql('CREATE DATABASE shop; ');
    await cluster.psql(
      'CREATE TABLE item (id int PRIMARY KEY, name text); INSERT INTO item VALUES (1, $$lamp$$), (2, $$desk$$)',
      'shop',
    );
    sshd = await startSshd(path.join(temp.dir, 'sshd'));
    bastion = `${sshd.user}@127.0.0.1:${sshd.port}`;
  });

  after(async () => {
    await sshd?.stop();
    await cluster?.stop();
    temp.cleanup(true);
  });

  test('doctor connects through the bastion', async () => {
    const report = await runDoctor({
      url: cluster.url('shop'),
      bastion,
      identity: sshd.identity,
      knownHosts: sshd.knownHosts,
      only: ['settings'],
    });
    assert.equal(report.server.database, 'shop');
    assert.equal(report.checks.length, 4);

    const cli = await runCliAsync([
      'pg',
      'sizes',
      cluster.url('shop'),
      '--bastion',
      bastion,
      '--identity',
      sshd.identity,
      '--known-hosts',
      sshd.knownHosts,
      '--json',
    ]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.deepEqual(
      JSON.parse(cli.stdout).tables.map((row: { table: string }) => row.table),
      ['item'],
    );
  });

  test('dump runs pg_dump through the bastion', async () => {
    const output = path.join(temp.dir, 'shop.dump');
    const result = await dumpDatabase({
      url: cluster.url('shop'),
      bastion,
      identity: sshd.identity,
      knownHosts: sshd.knownHosts,
      output,
    });
    assert.equal(result.tables, 1);
    assert.equal(result.bytes, statSync(output).size);
  });

  test('unknown host key and wrong user key are rejected', async () => {
    const emptyKnownHosts = path.join(temp.dir, 'empty_known_hosts');
    writeFileSync(emptyKnownHosts, '');
    const unknownHost = await runCliAsync([
      'pg',
      'doctor',
      cluster.url('shop'),
      '--bastion',
      bastion,
      '--identity',
      sshd.identity,
      '--known-hosts',
      emptyKnownHosts,
    ]);
    assert.equal(unknownHost.code, 8, unknownHost.stderr);
    assert.equal(
      unknownHost.stderr,
      `opsbox: The host key of bastion ${bastion} is not in known_hosts; add it with ssh-keyscan after checking its fingerprint, or pass --known-hosts FILE.\n`,
    );

    const otherKey = await makeKey(path.join(temp.dir, 'other_key'));
    const wrongKey = await runCliAsync([
      'pg',
      'doctor',
      cluster.url('shop'),
      '--bastion',
      bastion,
      '--identity',
      otherKey,
      '--known-hosts',
      sshd.knownHosts,
    ]);
    assert.equal(wrongKey.code, 8, wrongKey.stderr);
    assert.equal(
      wrongKey.stderr,
      `opsbox: SSH authentication to bastion ${bastion} failed; check the user and --identity key.\n`,
    );

    const closedPort = await runCliAsync([
      'pg',
      'doctor',
      cluster.url('shop'),
      '--bastion',
      `${sshd.user}@127.0.0.1:1`,
      '--identity',
      sshd.identity,
      '--known-hosts',
      sshd.knownHosts,
    ]);
    assert.equal(closedPort.code, 9, closedPort.stderr);
    assert.match(
      closedPort.stderr,
      /^opsbox: Cannot connect to bastion \S+@127\.0\.0\.1:1: connect ECONNREFUSED/,
    );
  });

  test('tunnel command forwards a local port until interrupted', async () => {
    const child = spawn(
      process.execPath,
      [
        BIN,
        'pg',
        'tunnel',
        '--url',
        cluster.url('shop'),
        '--bastion',
        bastion,
        '--identity',
        sshd.identity,
        '--known-hosts',
        sshd.knownHosts,
        '--json',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      await useTunnel();
    } finally {
      child.kill('SIGINT');
    }
    assert.equal(await exited, 0);

    async function useTunnel(): Promise<void> {
      for (let attempt = 0; attempt < 100 && !stdout.includes('}'); attempt++)
        await new Promise((resolve) => setTimeout(resolve, 100));
      const info = JSON.parse(stdout) as { localPort: number; url: string; target: string };
      assert.equal(info.target, `127.0.0.1:${cluster.port}`);
      assert.equal(info.url, `postgres://postgres@127.0.0.1:${info.localPort}/shop`);

      const client = new pg.Client({
        host: '127.0.0.1',
        port: info.localPort,
        user: 'postgres',
        database: 'shop',
        password: SUPERUSER_PASSWORD,
      });
      await client.connect();
      const { rows } = await client.query('SELECT name FROM item ORDER BY id');
      assert.deepEqual(
        rows.map((row) => row.name),
        ['lamp', 'desk'],
      );
      await client.end();
    }
  });
});
