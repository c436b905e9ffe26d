import { describe, expect, test } from 'vitest';
import { ReplicantError, ServerReplyError } from '../../src/errors.js';
import { classifyReplyError, probeServer, RedisConnection, type ReplyError } from '../../src/net/index.js';
import type { RespValue } from '../../src/resp/index.js';
import { dribble, fakeServer, handshake } from './fake.js';

describe('byte-level cases (scripted server)', () => {
  test('replies split byte by byte arrive whole and in order', async () => {
    const fake = await fakeServer((argv, sock) => {
      if (handshake(argv, sock)) return;
      if (argv[0] === 'A') void dribble(sock, '$7\r\nhe\r\nllo\r\n*3\r\n:1\r\n$-1\r\n+x\r\n');
    });
    try {
      const conn = await RedisConnection.connect({ host: '127.0.0.1', port: fake.port }, 'target');
      const got: unknown[] = [];
      const cb = (err: ReplyError | null, reply: RespValue): void => {
        got.push(err ?? reply);
      };
      conn.send(['A'], cb);
      conn.send(['B'], cb);
      await conn.idle();
      expect(got).toEqual([Buffer.from('he\r\nllo'), [1, null, 'x']]);
      await conn.close();
    } finally {
      await fake.close();
    }
  });

  test('-LOADING reaches the callback and is classified as back off; the connection stays usable', async () => {
    let loading = true;
    const fake = await fakeServer((argv, sock) => {
      if (handshake(argv, sock)) return;
      if (loading) {
        loading = false;
        sock.write('-LOADING Redis is loading the dataset in memory\r\n');
      } else sock.write('+OK\r\n');
    });
    try {
      const conn = await RedisConnection.connect({ host: '127.0.0.1', port: fake.port }, 'target');
      const err = await conn.call(['SET', 'k', 'v']).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ServerReplyError);
      expect((err as ServerReplyError).prefix).toBe('LOADING');
      expect(classifyReplyError(err)).toMatchObject({ action: 'backoff', code: 'ERR_TARGET_LOADING' });
      expect(await conn.call(['SET', 'k', 'v'])).toBe('OK');
      await conn.close();
    } finally {
      await fake.close();
    }
  });

  test('-LOADING during the handshake is a connect error with a hint', async () => {
    const fake = await fakeServer((_argv, sock) => {
      sock.write('-LOADING Redis is loading the dataset in memory\r\n');
    });
    try {
      const e = await RedisConnection.connect({ host: '127.0.0.1', port: fake.port }, 'target').catch(
        (x) => x,
      );
      expect(e).toBeInstanceOf(ReplicantError);
      expect((e as ReplicantError).code).toBe('ERR_CONNECT');
      expect((e as ReplicantError).hint).toMatch(/LOADING/);
    } finally {
      await fake.close();
    }
  });

  test('a connection cut in the middle of a reply fails the pending commands', async () => {
    const fake = await fakeServer((argv, sock) => {
      if (handshake(argv, sock)) return;
      sock.write('$10\r\nabc');
      setTimeout(() => sock.destroy(), 20);
    });
    try {
      const conn = await RedisConnection.connect({ host: '127.0.0.1', port: fake.port }, 'target');
      const errs: ReplyError[] = [];
      const cb = (err: ReplyError | null): void => {
        if (err) errs.push(err);
      };
      conn.send(['GET', 'a'], cb);
      conn.send(['GET', 'b'], cb);
      await expect(conn.idle()).rejects.toMatchObject({ code: 'ERR_TARGET_CONNECTION_LOST' });
      expect(errs.map((e) => (e as ReplicantError).code)).toEqual([
        'ERR_TARGET_CONNECTION_LOST',
        'ERR_TARGET_CONNECTION_LOST',
      ]);
      expect(errs[0]!.message).toContain('2 command(s) unanswered');
    } finally {
      await fake.close();
    }
  });

  test('a silent server times out the connect (ERR_CONNECT, no hang)', async () => {
    const fake = await fakeServer(() => {});
    try {
      const t0 = Date.now();
      const e = await RedisConnection.connect(
        { host: '127.0.0.1', port: fake.port, connectTimeoutMs: 200 },
        'source',
      ).catch((x) => x);
      expect((e as ReplicantError).code).toBe('ERR_CONNECT');
      expect((e as ReplicantError).message).toContain('source 127.0.0.1');
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      await fake.close();
    }
  });

  test('replyTimeoutMs: a server that stops answering fails the pending commands (ERR_TARGET_TIMEOUT)', async () => {
    const fake = await fakeServer((argv, sock) => {
      if (handshake(argv, sock)) return;
      if (argv[0] === 'FAST') sock.write('+OK\r\n');
    });
    try {
      const conn = await RedisConnection.connect(
        { host: '127.0.0.1', port: fake.port, replyTimeoutMs: 150 },
        'target',
      );
      // Idle time with nothing outstanding is not a stall.
      await new Promise((r) => setTimeout(r, 300));
      expect(await conn.call(['FAST'])).toBe('OK');
      const t0 = Date.now();
      const e = await conn.call(['HANG']).catch((x) => x);
      expect((e as ReplicantError).code).toBe('ERR_TARGET_TIMEOUT');
      expect((e as ReplicantError).message).toContain('1 command(s) outstanding');
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(conn.closed).toBe(true);
    } finally {
      await fake.close();
    }
  });

  test('garbage or an unrequested reply is ERR_PROTOCOL for everything pending', async () => {
    const fake = await fakeServer((argv, sock) => {
      if (handshake(argv, sock)) return;
      if (argv[0] === 'EXTRA') sock.write('+OK\r\n+OK\r\n');
      else sock.write('HTTP/1.1 400 Bad Request\r\n');
    });
    try {
      const conn = await RedisConnection.connect({ host: '127.0.0.1', port: fake.port }, 'target');
      const e = await conn.call(['GET', 'k']).catch((x) => x);
      expect((e as ReplicantError).code).toBe('ERR_PROTOCOL');
      expect((e as ReplicantError).message).toContain("'H'");
      const conn2 = await RedisConnection.connect({ host: '127.0.0.1', port: fake.port }, 'target');
      const closed = new Promise((r) => conn2.once('close', r));
      expect(await conn2.call(['EXTRA'])).toBe('OK');
      expect((await closed) as ReplicantError).toMatchObject({ code: 'ERR_PROTOCOL' });
    } finally {
      await fake.close();
    }
  });

  test('probeServer recognises Valkey 9 (RDB 80) and survives denied CONFIG/MODULE/COMMAND LIST (falls back to COMMAND INFO)', async () => {
    const fake = await fakeServer((argv, sock) => {
      if (handshake(argv, sock)) return;
      const c = argv.join(' ').toUpperCase();
      const bulk = (s: string) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
      if (c === 'INFO SERVER')
        sock.write(bulk('# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:9.0.1\r\n'));
      else if (c === 'INFO KEYSPACE')
        sock.write(
          bulk('# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\ndb12:keys=7,expires=1,avg_ttl=5\r\n'),
        );
      else if (c.startsWith('INFO')) sock.write(bulk(''));
      else if (c.startsWith('COMMAND INFO ')) {
        // Only the first name asked about exists (restore); the rest are null.
        const n = argv.length - 2;
        sock.write(`*${n}\r\n*0\r\n${'*-1\r\n'.repeat(n - 1)}`);
      } else sock.write("-NOPERM this user has no permissions to run the 'x' command\r\n");
    });
    try {
      const conn = await RedisConnection.connect({ host: '127.0.0.1', port: fake.port }, 'target');
      const info = await probeServer(conn);
      expect(info).toMatchObject({
        version: '9.0.1',
        versionNum: 90001,
        family: 'valkey',
        maxRdbVersion: 80,
        protoMaxBulkLen: 512 * 1024 * 1024,
        modules: [],
        clusterEnabled: false,
        commandsKnown: true,
      });
      expect([...info.dbKeys]).toEqual([
        [0, 3],
        [12, 7],
      ]);
      expect(info.hasCommand('RESTORE')).toBe(true);
      expect(info.hasCommand('dump')).toBe(false);
      await conn.close();
    } finally {
      await fake.close();
    }
  });
});
