/**
 * Issue #14 points 4 and 8 (status server): a --status-port that cannot be opened ends sync and
 * restore at once with ERR_STATUS_LISTEN (exit 2; it used to hang for ever), and a status server off
 * loopback needs a token (--status-token / REPLICANT_STATUS_TOKEN), checked as `Authorization: Bearer`
 * on every route.
 */
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliBuilt, parseCliError, runCli } from '../helpers/cli.js';
import { startRedis, type TestServer } from '../helpers/server.js';

let src: TestServer;
let dst: TestServer;
let rdb: string;
let busy: net.Server;
let busyPort: number;

beforeAll(async () => {
  src = await startRedis({ 'repl-diskless-sync-delay': '0' });
  dst = await startRedis();
  for (let i = 0; i < 50; i++) await src.client.set(`k${i}`, `v${i}`);
  await src.client.save();
  rdb = path.join(src.dir, 'dump.rdb');
  busy = net.createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
  busyPort = (busy.address() as net.AddressInfo).port;
});
afterAll(async () => {
  if (busy) await new Promise<void>((r) => busy.close(() => r()));
  await Promise.all([src?.stop(), dst?.stop()]);
});

async function expectListenError(args: string[]): Promise<void> {
  const t0 = Date.now();
  const r = await runCli(args, { timeoutMs: 60_000 });
  const took = Date.now() - t0;
  expect(r.signal).toBeNull(); // not killed by the test's timeout
  expect(r.code).toBe(2);
  expect(parseCliError(r.stderr)?.code).toBe('ERR_STATUS_LISTEN');
  expect(took).toBeLessThan(15_000);
}

describe.skipIf(!cliBuilt())('status server: cannot listen → exit 2 at once', () => {
  it('sync, port in use', async () => {
    await expectListenError([
      '--source',
      src.url,
      '--target',
      dst.url,
      '--no-progress',
      '--on-conflict',
      'overwrite',
      '--status-port',
      String(busyPort),
    ]);
  });

  it('sync, an address this machine does not have', async () => {
    await expectListenError([
      '--source',
      src.url,
      '--target',
      dst.url,
      '--no-progress',
      '--on-conflict',
      'overwrite',
      '--status-port',
      '0',
      '--status-host',
      '192.0.2.1',
      '--status-token',
      'tok',
    ]);
  });

  it('restore, port in use; nothing written', async () => {
    await dst.client.flushall();
    await expectListenError([
      'restore',
      '--rdb',
      rdb,
      '--target',
      dst.url,
      '--no-progress',
      '--status-port',
      String(busyPort),
    ]);
    expect(await dst.client.dbsize()).toBe(0);
  });
});

describe.skipIf(!cliBuilt())('status server off loopback needs a token', () => {
  it('--status-host 0.0.0.0 without a token is refused (ERR_CONFIG), with the hint', async () => {
    const r = await runCli([
      'restore',
      '--rdb',
      rdb,
      '--target',
      dst.url,
      '--status-port',
      '0',
      '--status-host',
      '0.0.0.0',
    ]);
    expect(r.code).toBe(2);
    const e = parseCliError(r.stderr)!;
    expect(e.code).toBe('ERR_CONFIG');
    expect(e.message).toMatch(/--status-host 0\.0\.0\.0.*token/);
    expect(r.stderr).toMatch(/REPLICANT_STATUS_TOKEN/);
  });

  it('with REPLICANT_STATUS_TOKEN: every route asks for Authorization: Bearer', async () => {
    await dst.client.flushall();
    let child: ChildProcess | null = null;
    let port = 0;
    const run = runCli(
      [
        '--source',
        src.url,
        '--target',
        dst.url,
        '--no-progress',
        '--status-port',
        '0',
        '--status-host',
        '0.0.0.0',
      ],
      {
        env: { REPLICANT_STATUS_TOKEN: 's3cret-token' },
        onSpawn: (c) => {
          child = c;
          c.stderr?.on('data', (d: Buffer) => {
            const m = /url=http:\/\/[^ ]*:(\d+)/.exec(d.toString());
            if (m) port = Number(m[1]);
          });
        },
      },
    );
    try {
      const end = Date.now() + 60_000;
      while (port === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      expect(port).toBeGreaterThan(0);
      const base = `http://127.0.0.1:${port}`;
      for (const route of ['/', '/status', '/metrics', '/nowhere']) {
        const none = await fetch(`${base}${route}`);
        expect(none.status).toBe(401);
        expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
        expect(await none.text()).not.toMatch(/phase|replicant_/);
        const wrong = await fetch(`${base}${route}`, { headers: { authorization: 'Bearer nope' } });
        expect(wrong.status).toBe(401);
      }
      const ok = await fetch(`${base}/status`, { headers: { authorization: 'Bearer s3cret-token' } });
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as { phase?: string }).phase).toBeTypeOf('string');
      const m = await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer s3cret-token' } });
      expect(m.status).toBe(200);
      expect(await m.text()).toMatch(/^replicant_/m);
    } finally {
      (child as ChildProcess | null)?.kill('SIGTERM');
    }
    const r = await run;
    expect(r.stderr).not.toContain('s3cret-token');
  });

  it('on loopback a token is optional, and checked when given', async () => {
    await dst.client.flushall();
    let child: ChildProcess | null = null;
    let url = '';
    const run = runCli(
      [
        '--source',
        src.url,
        '--target',
        dst.url,
        '--no-progress',
        '--status-port',
        '0',
        '--status-token',
        'tk',
      ],
      {
        onSpawn: (c) => {
          child = c;
          c.stderr?.on('data', (d: Buffer) => {
            const m = /url=(http:\/\/[\d.:]+)/.exec(d.toString());
            if (m) url = m[1]!;
          });
        },
      },
    );
    try {
      const end = Date.now() + 60_000;
      while (url === '' && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      expect((await fetch(`${url}/status`)).status).toBe(401);
      expect((await fetch(`${url}/status`, { headers: { authorization: 'Bearer tk' } })).status).toBe(200);
    } finally {
      (child as ChildProcess | null)?.kill('SIGTERM');
    }
    await run;
  });
});
