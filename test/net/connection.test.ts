/** RedisConnection against a real redis-server 7.0 (ioredis is the independent client for checks). */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ReplicantError, ServerReplyError } from '../../src/errors.js';
import { classifyReplyError, parseRedisUrl, RedisConnection, type ReplyError } from '../../src/net/index.js';
import type { RespValue } from '../../src/resp/index.js';
import { freePort, startRedis, type TestServer } from '../helpers/server.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startRedis();
});
afterAll(async () => {
  await srv?.stop();
});

async function expectCode(p: Promise<unknown>, code: string): Promise<ReplicantError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ReplicantError);
    expect((e as ReplicantError).code).toBe(code);
    return e as ReplicantError;
  }
  throw new Error(`expected ${code}`);
}

describe('pipelining', () => {
  test('100k commands through a small window: the window holds, replies arrive in order', async () => {
    const max = 64;
    const maxBytes = 4096;
    const conn = await RedisConnection.connect(
      { ...parseRedisUrl(srv.url), maxInFlight: max, maxInFlightBytes: maxBytes },
      'target',
    );
    const N = 50_000;
    let next = 0;
    let bad = 0;
    let peakBytes = 0;
    // One shared callback; the tag says which command replied (no closure per command).
    const echoCb = (err: ReplyError | null, reply: RespValue, tag: number): void => {
      if (err || tag !== next || (reply as Buffer).length !== tag % 200) bad++;
      next++;
    };
    // Phase 1: ECHO of 0..199 bytes: the byte bound binds (about 30 commands of ~125 bytes).
    for (let i = 0; i < N; i++) {
      if (conn.needsDrain) await conn.drain();
      conn.send(['ECHO', Buffer.alloc(i % 200, 120)], echoCb, i);
      peakBytes = Math.max(peakBytes, conn.inFlightBytes);
    }
    await conn.idle();
    expect(bad).toBe(0);
    expect(next).toBe(N);
    expect(peakBytes).toBeGreaterThan(maxBytes - 250); // the window was actually filled
    expect(peakBytes).toBeLessThan(maxBytes + 250); // and exceeded by at most one command
    expect(conn.peakInFlight).toBeLessThanOrEqual(max);
    // Phase 2: INCR (22 bytes): the count bound binds.
    next = 0;
    const incrCb = (err: ReplyError | null, reply: RespValue, tag: number): void => {
      if (err || tag !== next || reply !== tag + 1) bad++;
      next++;
    };
    let drains = 0;
    for (let i = 0; i < N; i++) {
      if (conn.needsDrain) {
        drains++;
        await conn.drain();
        expect(conn.inFlight).toBeLessThanOrEqual(max / 2);
      }
      conn.send(['INCR', 'counter'], incrCb, i);
      if (conn.inFlight > max) bad++;
    }
    await conn.idle();
    expect(bad).toBe(0);
    expect(next).toBe(N);
    expect(conn.peakInFlight).toBe(max);
    // One wait per half window at most, not one per command.
    expect(drains).toBeLessThanOrEqual(N / (max / 2) + 1);
    expect(drains).toBeGreaterThan(0);
    expect(conn.inFlight).toBe(0);
    expect(conn.inFlightBytes).toBe(0);
    expect(await srv.client.get('counter')).toBe(String(N));
    await conn.close();
  });

  test('replies match commands in order (checked per command with an independent value)', async () => {
    const conn = await RedisConnection.connect({ ...parseRedisUrl(srv.url), maxInFlight: 7 }, 'target');
    const got: string[] = [];
    const cb = (err: ReplyError | null, reply: RespValue): void => {
      got.push(err ? `E:${err.message}` : (reply as Buffer).toString());
    };
    for (let i = 0; i < 5000; i++) {
      if (conn.needsDrain) await conn.drain();
      conn.send(['ECHO', `v${i}`], cb);
    }
    await conn.idle();
    expect(got).toEqual(Array.from({ length: 5000 }, (_, i) => `v${i}`));
    await conn.close();
  });

  test('the reply ring grows while wrapped and keeps order (producer ignoring needsDrain)', async () => {
    const conn = await RedisConnection.connect({ ...parseRedisUrl(srv.url), maxInFlight: 10 }, 'target');
    const got: number[] = [];
    const cb = (err: ReplyError | null, reply: RespValue, tag: number): void => {
      if (!err && (reply as Buffer).toString() === `e${tag}`) got.push(tag);
    };
    for (let i = 0; i < 1000; i++) conn.send(['ECHO', `e${i}`], cb, i);
    await conn.idle(); // the ring head now sits at 1000 of 1024
    for (let i = 1000; i < 7000; i++) conn.send(['ECHO', `e${i}`], cb, i);
    expect(conn.needsDrain).toBe(true); // accepted anyway, like Writable.write() returning false
    await conn.idle();
    expect(got).toEqual(Array.from({ length: 7000 }, (_, i) => i));
    await conn.close();
  });

  test('sendRaw: pre-encoded commands interleave with send() in order; the caller may reuse its buffer', async () => {
    const conn = await RedisConnection.connect({ ...parseRedisUrl(srv.url), maxInFlight: 16 }, 'target');
    const got: string[] = [];
    const cb = (err: ReplyError | null, reply: RespValue, tag: number): void => {
      got.push(
        `${tag}:${err ? `E:${err instanceof ServerReplyError ? err.prefix : err.code}` : String(reply)}`,
      );
    };
    const scratch = Buffer.alloc(256);
    for (let i = 0; i < 3000; i++) {
      if (conn.needsDrain) await conn.drain();
      if (i % 3 === 0) {
        const n = scratch.write(
          `*3\r\n$3\r\nSET\r\n$6\r\nraw:${String(i % 100).padStart(2, '0')}\r\n$${String(i).length}\r\n${i}\r\n`,
        );
        conn.sendRaw(scratch.subarray(0, n), cb, i);
        scratch.fill(0x21); // reused at once: the connection must have copied it
      } else if (i % 3 === 1) conn.send(['GET', `raw:${String((i - 1) % 100).padStart(2, '0')}`], cb, i);
      else conn.sendRaw(Buffer.from('*2\r\n$5\r\nLPUSH\r\n$6\r\nraw:00\r\n'), cb, i); // arity error
    }
    await conn.idle();
    const want = Array.from({ length: 3000 }, (_, i) =>
      i % 3 === 0 ? `${i}:OK` : i % 3 === 1 ? `${i}:${i - 1}` : `${i}:E:ERR`,
    );
    expect(got).toEqual(want);
    await conn.close();
  });

  test('binary arguments round-trip; error replies reach the callback as ServerReplyError', async () => {
    const conn = await RedisConnection.connect(parseRedisUrl(srv.url), 'target');
    const key = Buffer.from([0, 255, 13, 10, 36]);
    const val = Buffer.alloc(2 * 1024 * 1024 + 3);
    for (let i = 0; i < val.length; i++) val[i] = (i * 7) & 0xff;
    expect(await conn.call(['SET', key, val])).toBe('OK');
    expect(((await conn.call(['GET', key])) as Buffer).equals(val)).toBe(true);
    expect((await srv.client.getBuffer(key))?.equals(val)).toBe(true);
    await srv.client.set('str', 'x');
    const err = await conn.call(['LPUSH', 'str', 'a']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerReplyError);
    expect(classifyReplyError(err).code).toBe('ERR_TARGET_WRONGTYPE');
    expect(await conn.call(['PING'])).toBe('PONG'); // still in sync after the error
    await conn.close();
  });

  test('SELECT db from the URL and CLIENT SETNAME', async () => {
    const conn = await RedisConnection.connect(
      { ...parseRedisUrl(`${srv.url}/5`), name: 'replicant target' },
      'target',
    );
    await conn.call(['SET', 'in-db-5', '1']);
    expect(await srv.client.get('in-db-5')).toBeNull();
    const list = (await srv.client.client('LIST')) as string;
    expect(list).toContain('name=replicant-target');
    expect(list).toMatch(/name=replicant-target .*db=5/);
    await conn.close();
    const e = await expectCode(
      RedisConnection.connect(parseRedisUrl(`${srv.url}/99`), 'target'),
      'ERR_CONFIG',
    );
    expect(e.message).toContain('SELECT 99');
  });
});

describe('connect failures', () => {
  test('closed port → ERR_CONNECT naming the role and endpoint', async () => {
    const port = await freePort();
    const e = await expectCode(RedisConnection.connect({ host: '127.0.0.1', port }, 'target'), 'ERR_CONNECT');
    expect(e.message).toContain(`target 127.0.0.1:${port}`);
    expect(e.hint).toMatch(/host and port/);
  });

  test('authentication: wrong password, missing password, ACL users', async () => {
    // The test helper's readiness PING needs no password, so the password is set after start.
    const auth = await startRedis();
    await auth.client.config('SET', 'requirepass', 'right-pass');
    try {
      const base = parseRedisUrl(auth.url);
      const wrong = await expectCode(
        RedisConnection.connect({ ...base, password: 'wrong-pass' }, 'target'),
        'ERR_AUTH',
      );
      expect(wrong.message).not.toContain('wrong-pass');
      expect(wrong.hint).toMatch(/password/);
      const missing = await expectCode(RedisConnection.connect(base, 'source'), 'ERR_AUTH');
      expect(missing.message).toMatch(/requires a password/);
      const ok = await RedisConnection.connect({ ...base, password: 'right-pass' }, 'target');
      expect(await ok.call(['PING'])).toBe('PONG');
      await ok.close();

      await auth.client.call('ACL', 'SETUSER', 'pinger', 'on', '>pw', '-@all', '+ping', '+auth');
      const user = await RedisConnection.connect({ ...base, username: 'pinger', password: 'pw' }, 'target');
      expect(await user.call(['PING'])).toBe('PONG');
      const denied = await user.call(['SET', 'k', 'v']).catch((e: unknown) => e);
      expect(denied).toBeInstanceOf(ServerReplyError);
      expect(classifyReplyError(denied)).toMatchObject({ action: 'fatal', code: 'ERR_TARGET_NOPERM' });
      expect(classifyReplyError(denied).hint).toContain('+set');
      await user.close();
      await expectCode(
        RedisConnection.connect({ ...base, username: 'pinger', password: 'nope' }, 'target'),
        'ERR_AUTH',
      );
      const noperm = await expectCode(
        RedisConnection.connect({ ...base, username: 'pinger', password: 'pw', db: 2 }, 'target'),
        'ERR_NOPERM',
      );
      expect(noperm.hint).toContain('ACL SETUSER pinger +select');
    } finally {
      await auth.stop();
    }
  });
});

describe('connection loss', () => {
  test('a killed server fails every pending callback with ERR_TARGET_CONNECTION_LOST (no hang)', async () => {
    const victim = await startRedis({ 'enable-debug-command': 'yes' });
    const conn = await RedisConnection.connect(
      { ...parseRedisUrl(victim.url), maxInFlight: 100_000 },
      'target',
    );
    const closeEvents: unknown[] = [];
    const errorEvents: unknown[] = [];
    conn.on('close', (e) => closeEvents.push(e));
    conn.on('error', (e) => errorEvents.push(e));
    let ok = 0;
    const failures: ReplyError[] = [];
    const cb = (err: ReplyError | null): void => {
      if (err) failures.push(err);
      else ok++;
    };
    // A slow command first so replies are still pending when the server dies.
    conn.send(['DEBUG', 'SLEEP', '2'], cb);
    for (let i = 0; i < 20_000; i++) conn.send(['SET', `k${i}`, 'v'], cb);
    const idle = conn.idle().catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 300));
    victim.proc.kill('SIGKILL');
    const idleErr = await idle;
    expect(idleErr).toBeInstanceOf(ReplicantError);
    expect((idleErr as ReplicantError).code).toBe('ERR_TARGET_CONNECTION_LOST');
    expect(ok + failures.length).toBe(20_001);
    expect(failures.length).toBeGreaterThan(0);
    for (const f of failures) expect((f as ReplicantError).code).toBe('ERR_TARGET_CONNECTION_LOST');
    expect(failures[0]!.message).toContain(`127.0.0.1:${victim.port}`);
    expect(classifyReplyError(failures[0]).action).toBe('reconnect');
    expect(closeEvents).toHaveLength(1);
    expect(errorEvents).toHaveLength(1);
    expect(conn.closed).toBe(true);
    // After the loss, sends fail (asynchronously) instead of vanishing.
    const late = await new Promise<ReplyError | null>((r) => conn.send(['PING'], (e) => r(e)));
    expect((late as ReplicantError).code).toBe('ERR_TARGET_CONNECTION_LOST');
    await expect(conn.drain()).rejects.toMatchObject({ code: 'ERR_TARGET_CONNECTION_LOST' });
    await expect(conn.idle()).rejects.toMatchObject({ code: 'ERR_TARGET_CONNECTION_LOST' });
    await victim.stop();
  });
});
