// Throwaway redis-server processes for the demo and the benches (tests have their own TypeScript helper,
// test/helpers/server.ts): a free loopback port, a temp dir, persistence off, ready when PING answers.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const REDIS_SERVER = process.env.REPLICANT_REDIS_SERVER ?? 'redis-server';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** One PING over a raw socket: true once the server answers (+PONG, or -NOAUTH when a password is set). */
function pingOnce(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => {
      s.destroy();
      resolve(/^(\+PONG|-NOAUTH)/.test(d.toString()));
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Start a server with `args` after the defaults (port, bind, dir, no RDB saves, no AOF). `dir` defaults to
 * a new temp dir that `stop()` removes. Returns { port, url, dir, proc, pid, stop }.
 */
export async function startRedisServer({ args = [], dir } = {}) {
  const ownDir = dir === undefined;
  const where = dir ?? mkdtempSync(path.join(os.tmpdir(), 'replicant-bench-'));
  const port = await freePort();
  const proc = spawn(
    REDIS_SERVER,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      where,
      '--save',
      '',
      '--appendonly',
      'no',
      ...args,
    ],
    { stdio: 'ignore' },
  );
  let spawnError = null;
  proc.once('error', (e) => {
    spawnError = e;
  });
  const stop = () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    if (ownDir) rmSync(where, { recursive: true, force: true });
  };
  for (let i = 0; i < 400; i++) {
    if (spawnError) {
      throw new Error(
        `cannot run ${REDIS_SERVER} (${spawnError.message}); install it (Debian/Ubuntu: apt-get install redis-server) or set REPLICANT_REDIS_SERVER`,
      );
    }
    if (proc.exitCode !== null) break;
    if (await pingOnce(port))
      return { port, url: `redis://127.0.0.1:${port}`, dir: where, proc, pid: proc.pid, stop };
    await sleep(25);
  }
  stop();
  throw new Error(`${REDIS_SERVER} did not start on port ${port}`);
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); null elsewhere. */
export function cpuSeconds(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}
