/**
 * Issue #14 (2, 8) through the CLI: a fake master (test/replication/fake-master.ts) sends what no real
 * master sends — a `*2147483647` command, a bulk over proto-max-bulk-len, a 70 KiB reply line, then
 * silence — and a TLS port answers our plain-text PING. Each must end in a typed error that says it
 * was the source, quickly and with small memory; the target is a real redis-server.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliBuilt, parseCliError, REPO } from '../helpers/cli.js';
import { freePort, startRedis, type TestServer } from '../helpers/server.js';
import { type FakeConn, type FakeMaster, pause, startFakeMaster } from '../replication/fake-master.js';

const MAIN = path.join(REPO, 'dist/cli/main.js');
const REPLID = 'a'.repeat(40);
/** An RDB with no keys: magic, EOF opcode, checksum 0 (not checked). */
const EMPTY_RDB = Buffer.concat([Buffer.from('REDIS0009'), Buffer.from([0xff]), Buffer.alloc(8)]);

let target: TestServer;
const masters: FakeMaster[] = [];

beforeAll(async () => {
  target = await startRedis();
});
afterAll(async () => {
  await Promise.all(masters.map((m) => m.close()));
  await target?.stop();
});

/**
 * A fake master: answers the handshake (and the heartbeat writer's SETs) with +OK/+PONG; on PSYNC
 * sends a full resync at offset 1000 with an empty RDB, then runs `stream`. `first` replaces the
 * reply to the first PING when given.
 */
async function fakeMaster(stream: (c: FakeConn) => Promise<void>, first?: Buffer): Promise<FakeMaster> {
  const m = await startFakeMaster(async (c) => {
    let pings = 0;
    for (;;) {
      const cmd = await c.command();
      const name = cmd[0]!.toUpperCase();
      if (name === 'PSYNC' || name === 'SYNC') {
        await c.send(`+FULLRESYNC ${REPLID} 1000\r\n$${EMPTY_RDB.length}\r\n`);
        await c.send(EMPTY_RDB);
        await stream(c);
        return;
      }
      if (name === 'PING' && pings++ === 0 && first) await c.send(first);
      else await c.send(name === 'PING' ? '+PONG\r\n' : '+OK\r\n');
    }
  });
  masters.push(m);
  return m;
}

interface Run {
  code: number;
  stderr: string;
  rssMb: number;
  ms: number;
}

/** The CLI's main() in a child that reports its own peak RSS at exit. */
function sync(
  port: number,
  extra: string[] = [],
  env: Record<string, string> = {},
  killAfterMs = 60_000,
): Promise<Run> {
  const args = [
    '--source',
    `redis://127.0.0.1:${port}`,
    '--target',
    target.url,
    '--skip-precheck',
    '--no-progress',
    '--on-conflict',
    'overwrite',
    ...extra,
  ];
  const code = `const { main } = await import(${JSON.stringify(MAIN)});
const rc = await main(${JSON.stringify(args)});
process.stderr.write('\\nPEAK_RSS_KB ' + process.resourceUsage().maxRSS + '\\n');
process.exit(rc);`;
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', code], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), killAfterMs);
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('close', (rc) => {
      clearTimeout(timer);
      resolve({
        code: rc ?? -1,
        stderr: err,
        rssMb: Math.round(Number(/PEAK_RSS_KB (\d+)/.exec(err)?.[1] ?? 0) / 1024),
        ms: Date.now() - t0,
      });
    });
  });
}

describe.skipIf(!cliBuilt())('hostile source bytes (issue #14 points 2 and 8)', () => {
  it('*2147483647 followed by arguments: ERR_SOURCE_PROTOCOL at once, naming count, limit and offset; RSS small', async () => {
    const m = await fakeMaster(async (c) => {
      await c.command(); // our first REPLCONF ACK
      await c.send('*2147483647\r\n$4\r\nSADD\r\n$1\r\nk\r\n');
      // Then arguments for as long as the link stays open (the old parser collected every one).
      const args = Buffer.from('$1\r\na\r\n'.repeat(100_000));
      for (let i = 0; i < 2000 && !c.socket.destroyed; i++) await c.send(args);
    });
    const r = await sync(m.port);
    const e = parseCliError(r.stderr);
    expect(e?.code, r.stderr.slice(-2000)).toBe('ERR_SOURCE_PROTOCOL');
    expect(e!.message).toMatch(/^the source sent a command of 2147483647 arguments/);
    expect(e!.message).toContain('client-query-buffer-limit');
    expect(e!.message).toContain('byte offset 1000 of the replication stream');
    expect(r.code).toBe(2);
    expect(r.ms).toBeLessThan(20_000);
    console.log(`*2147483647: refused after ${r.ms} ms, peak RSS ${r.rssMb} MB`);
    expect(r.rssMb).toBeLessThan(150);
  }, 90_000);

  it('a bulk length over proto-max-bulk-len: refused at its header, before any of it is read', async () => {
    const m = await fakeMaster(async (c) => {
      await c.command();
      await c.send('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000000000\r\n');
      const junk = Buffer.alloc(1 << 20, 0x78);
      for (let i = 0; i < 300 && !c.socket.destroyed; i++) await c.send(junk);
    });
    const r = await sync(m.port);
    const e = parseCliError(r.stderr);
    expect(e?.code, r.stderr.slice(-2000)).toBe('ERR_SOURCE_PROTOCOL');
    expect(e!.message).toContain(
      'the source sent a bulk string of 1000000000 bytes (argument 3), over the limit of 536870912 bytes (proto-max-bulk-len)',
    );
    expect(e!.message).toContain('byte offset 1020 of the replication stream');
    expect(r.rssMb).toBeLessThan(150);
  }, 90_000);

  it('a 70 KiB reply line in the handshake: ERR_SOURCE_PROTOCOL saying the source sent it (was ERR_INTERNAL)', async () => {
    const m = await fakeMaster(async () => {}, Buffer.from(`+${'x'.repeat(70 * 1024)}`));
    const r = await sync(m.port);
    const e = parseCliError(r.stderr);
    expect(e?.code, r.stderr.slice(-2000)).toBe('ERR_SOURCE_PROTOCOL');
    expect(e!.message).toContain('the source sent something a Redis master does not');
    expect(e!.message).toContain('reply line longer than 64 KiB during the handshake');
  }, 90_000);

  it('a source that goes silent in the stream phase: lost after the read timeout, the message says so', async () => {
    let connections = 0;
    const m = await fakeMaster(async (c) => {
      connections++;
      // During the "transfer" keepalives count as data: none of this trips the timeout.
      await c.command();
      await c.send('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n');
      await new Promise(() => {}); // then nothing, ever (the socket stays open)
    });
    let child: import('node:child_process').ChildProcess | null = null;
    const t0 = Date.now();
    const out = await new Promise<{ stderr: string; ms: number }>((resolve, reject) => {
      const p = spawn(
        process.execPath,
        [
          path.join(REPO, 'dist/replica.js'),
          '--source',
          `redis://127.0.0.1:${m.port}`,
          '--target',
          target.url,
          '--skip-precheck',
          '--no-progress',
          '--on-conflict',
          'overwrite',
        ],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
          env: { PATH: process.env.PATH ?? '', REPLICANT_REPL_TIMEOUT_MS: '2000' },
        },
      );
      child = p;
      let err = '';
      p.on('error', reject);
      p.stderr.on('data', (d) => {
        err += d;
        if (/no data from the source/.test(err)) resolve({ stderr: err, ms: Date.now() - t0 });
      });
      setTimeout(() => resolve({ stderr: err, ms: -1 }), 30_000);
    });
    (child as unknown as import('node:child_process').ChildProcess).kill('SIGKILL');
    expect(out.ms, out.stderr.slice(-2000)).toBeGreaterThan(1500);
    expect(out.ms).toBeLessThan(12_000);
    expect(out.stderr).toContain('no data from the source for 2 s (repl-timeout) during the stream');
    expect(out.stderr).toContain('reconnecting');
    expect(connections).toBeGreaterThanOrEqual(1);
    expect(await target.client.get('k')).toBe('v');
  }, 60_000);

  it('keepalive newlines during the RDB transfer count as data', async () => {
    const m = await startFakeMaster(async (c) => {
      for (;;) {
        const cmd = await c.command();
        const name = cmd[0]!.toUpperCase();
        if (name === 'PSYNC') {
          await c.send(`+FULLRESYNC ${REPLID} 1000\r\n`);
          // "BGSAVE" for 4 s, keepalives every 500 ms (the timeout is 2 s).
          for (let i = 0; i < 8; i++) {
            await c.send('\n');
            await pause(500);
          }
          await c.send(`$${EMPTY_RDB.length}\r\n`);
          await c.send(EMPTY_RDB);
          await c.command();
          await c.send('*3\r\n$3\r\nSET\r\n$2\r\nka\r\n$1\r\nv\r\n');
          for (;;) {
            await pause(500);
            await c.send('*1\r\n$4\r\nPING\r\n');
          }
        }
        await c.send(name === 'PING' ? '+PONG\r\n' : '+OK\r\n');
      }
    });
    masters.push(m);
    const r = await sync(m.port, [], { REPLICANT_REPL_TIMEOUT_MS: '2000' }, 9000);
    expect(r.stderr).not.toContain('no data from the source');
    expect(await target.client.get('ka')).toBe('v');
  }, 60_000);
});

describe.skipIf(!cliBuilt())('a TLS port (issue #14 point 8)', () => {
  it('redis:// pointed at a redis-server tls-port: the message says the port may expect TLS', async () => {
    // A throwaway self-signed certificate (no key material kept in the repo).
    const dir = mkdtempSync(path.join(os.tmpdir(), 'replicant-tls-'));
    const gen = spawnSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-keyout',
      path.join(dir, 'key.pem'),
      '-out',
      path.join(dir, 'cert.pem'),
    ]);
    let tls: TestServer | null = null;
    const tlsPort = await freePort();
    try {
      if (gen.status !== 0) throw new Error('openssl could not make a certificate');
      tls = await startRedis({
        'tls-port': String(tlsPort),
        'tls-cert-file': path.join(dir, 'cert.pem'),
        'tls-key-file': path.join(dir, 'key.pem'),
        'tls-ca-cert-file': path.join(dir, 'cert.pem'),
        'tls-auth-clients': 'no',
      });
    } catch (err) {
      console.log(`skipped: no TLS-capable redis-server or certificate (${(err as Error).message})`);
      rmSync(dir, { recursive: true, force: true });
      return;
    }
    try {
      const r = await sync(tlsPort);
      const e = parseCliError(r.stderr);
      expect(e?.code, r.stderr.slice(-2000)).toBe('ERR_SOURCE_CONNECT');
      expect(e!.message).toContain('this port may expect TLS (rediss://)');
      expect(e!.hint).toContain('seems to speak TLS');
    } finally {
      await tls.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
