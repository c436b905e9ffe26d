/**
 * Real redis-server processes for tests: each on a free loopback port, in its own temp dir, torn down
 * by `stop()`. The binary is `$REPLICANT_REDIS_SERVER` or `redis-server` from PATH (Debian's 7.0).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';

export interface TestServer {
  port: number;
  host: string;
  url: string;
  dir: string;
  /** A connected ioredis client (independent of replicant's own client, so assertions don't share our bugs). */
  client: Redis;
  proc: ChildProcess;
  stop(): Promise<void>;
}

export const REDIS_SERVER = process.env.REPLICANT_REDIS_SERVER ?? 'redis-server';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Start a server. `config` entries become `--name value` arguments (e.g. `{ 'list-max-listpack-size': '4' }`).
 * Persistence is off by default (no RDB save points, no AOF) so tests control SAVE themselves.
 * `opts.binary` runs another redis-server/valkey-server build (the version matrix); `opts.extraArgs`
 * go after the config (e.g. several `--loadmodule`, which a config map cannot hold twice).
 */
export async function startRedis(
  config: Record<string, string> = {},
  opts: { binary?: string; extraArgs?: string[] } = {},
): Promise<TestServer> {
  const binary = opts.binary ?? REDIS_SERVER;
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'replicant-test-'));
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
    ];
    for (const [k, v] of Object.entries(config)) args.push(`--${k}`, v);
    args.push(...(opts.extraArgs ?? []));
    const proc = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    proc.stdout?.on('data', (d: Buffer) => {
      if (log.length < 20_000) log += d.toString();
    });
    proc.stderr?.on('data', (d: Buffer) => {
      if (log.length < 20_000) log += d.toString();
    });
    const ok = await waitReady(port, proc);
    const password = config.requirepass;
    if (!ok) {
      proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      if (attempt < 3 && /Address already in use/.test(log)) continue;
      throw new Error(`redis-server did not start on port ${port}:\n${log}`);
    }
    const client = new Redis({
      port,
      host: '127.0.0.1',
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      ...(password === undefined ? {} : { password }),
    });
    await client.connect();
    const stop = async (): Promise<void> => {
      client.disconnect();
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    };
    return { port, host: '127.0.0.1', url: `redis://127.0.0.1:${port}`, dir, client, proc, stop };
  }
}

async function waitReady(port: number, proc: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) return false;
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.write('PING\r\n');
      });
      s.once('data', (d) => {
        s.destroy();
        // -NOAUTH: alive, a password is set (`requirepass`).
        resolve(/^(\+PONG|-NOAUTH)/.test(d.toString()));
      });
      s.once('error', () => resolve(false));
    });
    if (up) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}
