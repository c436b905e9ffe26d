/**
 * Issue #14 point 8, reply side: long reply lines from a server on our pipelined connection (a long
 * -ERR or +status is accepted up to the decoder's 1 MiB line limit; past it, a typed ERR_PROTOCOL
 * naming the side), and a TLS port answering our plain-text connect.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ServerReplyError } from '../../src/errors.js';
import { RedisConnection } from '../../src/net/connection.js';
import { freePort, startRedis, type TestServer } from '../helpers/server.js';
import { type FakeServer, fakeServer, handshake } from '../net/fake.js';

const servers: FakeServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function target(reply: (argv: string[]) => string | Buffer): Promise<FakeServer> {
  const s = await fakeServer((argv, sock) => {
    if (!handshake(argv, sock)) sock.write(reply(argv));
  });
  servers.push(s);
  return s;
}

describe('long reply lines (issue #14 point 8)', () => {
  it('a 100 KiB -ERR and a 100 KiB +status line are replies, not failures', async () => {
    const long = 'x'.repeat(100 * 1024);
    const s = await target((argv) => (argv[0] === 'GET' ? `-ERR ${long}\r\n` : `+${long}\r\n`));
    const c = await RedisConnection.connect({ host: '127.0.0.1', port: s.port }, 'target');
    try {
      const e = await c.call(['GET', 'k']).catch((err: unknown) => err);
      expect(e).toBeInstanceOf(ServerReplyError);
      expect((e as Error).message).toBe(`ERR ${long}`);
      expect(await c.call(['SET', 'k', 'v'])).toBe(long);
    } finally {
      c.destroy();
    }
  });

  it('a line past 1 MiB: ERR_PROTOCOL naming the side and the endpoint, the pending command failed', async () => {
    const s = await target(() => `-ERR ${'y'.repeat(2 * 1024 * 1024)}\r\n`);
    const c = await RedisConnection.connect({ host: '127.0.0.1', port: s.port }, 'target');
    const e = (await c.call(['GET', 'k']).catch((err: unknown) => err)) as { code: string; message: string };
    expect(e.code).toBe('ERR_PROTOCOL');
    expect(e.message).toMatch(
      new RegExp(`^target 127\\.0\\.0\\.1:${s.port} sent a reply that is not RESP: `),
    );
    expect(e.message).toContain('no line end within 1048576 bytes');
  });
});

describe('a TLS port on the target side (issue #14 point 8)', () => {
  let tls: TestServer | null = null;
  let dir = '';
  afterAll(async () => {
    await tls?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('redis:// at a tls-port: ERR_CONNECT saying the port may expect TLS', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'replicant-tls-'));
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
    const port = await freePort();
    try {
      if (gen.status !== 0) throw new Error('openssl could not make a certificate');
      tls = await startRedis({
        'tls-port': String(port),
        'tls-cert-file': path.join(dir, 'cert.pem'),
        'tls-key-file': path.join(dir, 'key.pem'),
        'tls-ca-cert-file': path.join(dir, 'cert.pem'),
        'tls-auth-clients': 'no',
      });
    } catch (err) {
      console.log(`skipped: no TLS-capable redis-server or certificate (${(err as Error).message})`);
      return;
    }
    const e = (await RedisConnection.connect({ host: '127.0.0.1', port }, 'target').catch(
      (err: unknown) => err,
    )) as { code: string; message: string; hint: string };
    expect(e.code).toBe('ERR_CONNECT');
    expect(e.message).toContain(`target 127.0.0.1:${port}`);
    expect(e.message).toContain('this port may expect TLS (rediss://)');
    expect(e.hint).toContain('seems to speak TLS');
  });
});
