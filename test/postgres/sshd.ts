import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { freePort } from './cluster.js';

const run = promisify(execFile);

export interface TestSshd {
  port: number;
  user: string;
  /** Private key that the server accepts. */
  identity: string;
  /** known_hosts file listing the server's throwaway host key. */
  knownHosts: string;
  stop(): Promise<void>;
}

/** Makes an ed25519 key pair without a passphrase and returns the private key path. */
export async function makeKey(file: string): Promise<string> {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'opsbox-test', '-f', file]);
  return file;
}

/**
 * Starts Debian's OpenSSH server on a free loopback port with a throwaway
 * host key, accepting one user key for the current user and allowing TCP
 * forwarding only.
 */
export async function startSshd(dir: string): Promise<TestSshd> {
  mkdirSync(dir, { recursive: true });
  const hostKey = await makeKey(path.join(dir, 'host_key'));
  const identity = await makeKey(path.join(dir, 'user_key'));
  writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(identity + '.pub'), {
    mode: 0o600,
  });
  const port = await freePort();
  const user = userInfo().username;
  writeFileSync(
    path.join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'PermitRootLogin prohibit-password',
      'AllowTcpForwarding local',
      'PermitTTY no',
      'X11Forwarding no',
      'StrictModes no',
      'UsePAM no',
      `AllowUsers ${user}`,
    ].join('\n') + '\n',
  );
  const knownHosts = path.join(dir, 'known_hosts');
  writeFileSync(
    knownHosts,
    `[127.0.0.1]:${port} ${readFileSync(hostKey + '.pub', 'utf8')
      .split(' ')
      .slice(0, 2)
      .join(' ')}\n`,
  );

  // sshd running as root needs its privilege separation folder, which the
  // Debian service creates at boot; a container without the service lacks it.
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const child: ChildProcess = spawn(
    '/usr/sbin/sshd',
    ['-D', '-e', '-f', path.join(dir, 'sshd_config')],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr!.on('data', (chunk) => (log += chunk));
  await waitForPort(port, () => log);
  return {
    port,
    user,
    identity,
    knownHosts,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function waitForPort(port: number, log: () => string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`sshd did not listen on ${port}: ${log()}`);
}
