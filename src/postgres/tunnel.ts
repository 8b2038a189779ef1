import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { homedir, userInfo } from 'node:os';
import path from 'node:path';

import { Client, type ConnectConfig } from 'ssh2';

import { UserError } from '../core/errors.js';

export interface TunnelOptions {
  /** `user@host[:port]`; the user defaults to the local user and the port to 22. */
  bastion: string;
  /** Private key file; without it the SSH agent at SSH_AUTH_SOCK is used. */
  identity?: string;
  /** known_hosts file checked for the bastion's host key; defaults to ~/.ssh/known_hosts. */
  knownHosts?: string;
  /** Database host and port as seen from the bastion. */
  targetHost: string;
  targetPort: number;
  /** Local port to listen on (127.0.0.1); 0 or absent picks a free one. */
  localPort?: number;
  env?: Record<string, string | undefined>;
}

/** An SSH local port forward: 127.0.0.1:localPort reaches targetHost:targetPort through the bastion. */
export interface Tunnel {
  localPort: number;
  bastion: { user: string; host: string; port: number };
  close(): Promise<void>;
}

/** Parses `user@host[:port]` (IPv6 hosts in brackets). */
export function parseBastion(
  value: string,
  env: Record<string, string | undefined> = process.env,
): { user: string; host: string; port: number } {
  const match = /^(?:([^@]+)@)?(\[[^\]]+\]|[^:@]+)(?::(\d+))?$/.exec(value);
  if (!match) {
    throw new UserError('usage', `Invalid --bastion "${value}": use user@host or user@host:port.`, {
      code: 'PG_BASTION_INVALID',
    });
  }
  const port = match[3] ? Number(match[3]) : 22;
  if (port < 1 || port > 65535) {
    throw new UserError(
      'usage',
      `Invalid --bastion port in "${value}": use a number from 1 to 65535.`,
      { code: 'PG_BASTION_INVALID' },
    );
  }
  const host = match[2]!.replace(/^\[|\]$/g, '');
  return { user: match[1] ?? env.USER ?? userInfo().username, host, port };
}

/** Opens the SSH connection and starts listening on loopback; every failure is a UserError. */
export async function openTunnel(options: TunnelOptions): Promise<Tunnel> {
  const env = options.env ?? process.env;
  const bastion = parseBastion(options.bastion, env);
  const ssh = new Client();
  await connectSsh(ssh, sshConfig(options, bastion, env), options.bastion);

  const sockets = new Set<Socket>();
  const server = createServer((socket) => forward(ssh, socket, options, sockets));
  try {
    await listen(server, options.localPort ?? 0);
  } catch (error) {
    ssh.end();
    throw new UserError(
      'unavailable',
      `Cannot listen on 127.0.0.1:${options.localPort}: ${(error as Error).message}; pick another --local-port.`,
      { cause: error },
    );
  }

  let closed = false;
  return {
    localPort: (server.address() as AddressInfo).port,
    bastion,
    async close() {
      if (closed) return;
      closed = true;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      ssh.end();
    },
  };
}

function sshConfig(
  options: TunnelOptions,
  bastion: { user: string; host: string; port: number },
  env: Record<string, string | undefined>,
): ConnectConfig {
  const knownHostsFile =
    options.knownHosts ?? path.join(env.HOME ?? homedir(), '.ssh', 'known_hosts');
  const config: ConnectConfig = {
    host: bastion.host,
    port: bastion.port,
    username: bastion.user,
    readyTimeout: 15_000,
    keepaliveInterval: 15_000,
    hostVerifier: (key: Buffer) => isKnownHost(knownHostsFile, bastion.host, bastion.port, key),
  };
  if (options.identity) {
    try {
      config.privateKey = readFileSync(options.identity);
    } catch (error) {
      throw new UserError(
        'not_found',
        `Cannot read the SSH key ${options.identity}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}; check --identity.`,
        { code: 'PG_SSH_KEY' },
      );
    }
  } else if (env.SSH_AUTH_SOCK) {
    config.agent = env.SSH_AUTH_SOCK;
  } else {
    throw new UserError(
      'usage',
      `No SSH credentials for ${options.bastion}; pass --identity KEY or start an SSH agent.`,
      { code: 'PG_SSH_KEY' },
    );
  }
  return config;
}

function connectSsh(ssh: Client, config: ConnectConfig, label: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let hostKeyRejected = false;
    const verifier = config.hostVerifier as (key: Buffer) => boolean;
    config.hostVerifier = (key: Buffer) => {
      const known = verifier(key);
      hostKeyRejected = !known;
      return known;
    };
    ssh.once('ready', () => resolve());
    ssh.once('error', (error: Error & { level?: string }) => {
      if (hostKeyRejected) {
        reject(
          new UserError(
            'permission',
            `The host key of bastion ${label} is not in known_hosts; add it with ssh-keyscan after checking its fingerprint, or pass --known-hosts FILE.`,
            { code: 'PG_SSH_HOST_KEY', cause: error },
          ),
        );
      } else if (error.level === 'client-authentication') {
        reject(
          new UserError(
            'permission',
            `SSH authentication to bastion ${label} failed; check the user and --identity key.`,
            { code: 'PG_SSH_AUTH', cause: error },
          ),
        );
      } else if (/timed out/i.test(error.message)) {
        reject(
          new UserError(
            'timeout',
            `Connecting to bastion ${label} timed out; check the host and port.`,
            { code: 'PG_SSH_CONNECT', cause: error },
          ),
        );
      } else if (/encrypted private key|passphrase/i.test(error.message)) {
        reject(
          new UserError(
            'usage',
            `The SSH key for ${label} is encrypted; load it into an SSH agent and omit --identity.`,
            { code: 'PG_SSH_KEY', cause: error },
          ),
        );
      } else {
        reject(
          new UserError('unavailable', `Cannot connect to bastion ${label}: ${error.message}.`, {
            code: 'PG_SSH_CONNECT',
            cause: error,
          }),
        );
      }
    });
    try {
      ssh.connect(config);
    } catch (error) {
      // ssh2 throws synchronously for a key it cannot parse.
      reject(
        new UserError(
          'usage',
          `Cannot use the SSH key for ${label}: ${(error as Error).message}; check --identity.`,
          { code: 'PG_SSH_KEY', cause: error },
        ),
      );
    }
  });
}

function forward(ssh: Client, socket: Socket, options: TunnelOptions, sockets: Set<Socket>): void {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
  socket.on('error', () => socket.destroy());
  ssh.forwardOut(
    '127.0.0.1',
    socket.remotePort ?? 0,
    options.targetHost,
    options.targetPort,
    (error, channel) => {
      // The database client sees a closed socket; it reports the failure itself.
      if (error) {
        socket.destroy();
        return;
      }
      socket.pipe(channel).pipe(socket);
      channel.on('error', () => socket.destroy());
      channel.on('close', () => socket.destroy());
    },
  );
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
}

/**
 * Checks a host key against an OpenSSH known_hosts file: plain and hashed
 * (`|1|salt|hmac`) host patterns, `[host]:port` for non-22 ports, and
 * `@revoked` markers. `@cert-authority` lines are skipped.
 */
export function isKnownHost(file: string, host: string, port: number, key: Buffer): boolean {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return false;
  }
  const name = port === 22 ? host : `[${host}]:${port}`;
  const keyBase64 = key.toString('base64');
  let known = false;
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 3 || fields[0]!.startsWith('#')) continue;
    const marker = fields[0]!.startsWith('@') ? fields.shift() : undefined;
    if (marker === '@cert-authority') continue;
    const [patterns, , base64] = fields;
    if (base64 !== keyBase64 || !hostMatches(patterns!, name)) continue;
    if (marker === '@revoked') return false;
    known = true;
  }
  return known;
}

function hostMatches(patterns: string, name: string): boolean {
  if (patterns.startsWith('|1|')) {
    const [, , salt, hash] = patterns.split('|');
    const digest = createHmac('sha1', Buffer.from(salt!, 'base64')).update(name).digest('base64');
    return digest === hash;
  }
  let matched = false;
  for (const pattern of patterns.split(',')) {
    const negated = pattern.startsWith('!');
    const glob = negated ? pattern.slice(1) : pattern;
    const regex = new RegExp(
      '^' +
        glob
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '.*')
          .replace(/\?/g, '.') +
        '$',
    );
    if (regex.test(name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}
