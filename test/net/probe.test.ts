import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  maxRdbVersionFor,
  parseRedisUrl,
  probeServer,
  RedisConnection,
  versionNumber,
} from '../../src/net/index.js';
import { startRedis, type TestServer } from '../helpers/server.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startRedis({ 'proto-max-bulk-len': '1mb', maxmemory: '100mb' });
});
afterAll(async () => {
  await srv?.stop();
});

describe('probeServer (real redis-server 7.0)', () => {
  test('reports version, RDB 10, limits, memory, keys per db and the command table', async () => {
    await srv.client.set('a', '1');
    await srv.client.set('b', '2');
    await srv.client.select(3);
    await srv.client.set('c', '3');
    await srv.client.select(0);
    const conn = await RedisConnection.connect(parseRedisUrl(srv.url), 'target');
    const info = await probeServer(conn);
    expect(info.version).toMatch(/^7\.0\.\d+$/);
    expect(info.versionNum).toBe(versionNumber(info.version));
    expect(Math.floor(info.versionNum / 100)).toBe(700);
    expect(info.family).toBe('redis');
    expect(info.maxRdbVersion).toBe(10);
    expect(info.protoMaxBulkLen).toBe(1024 * 1024);
    expect(info.modules).toEqual([]);
    expect(info.clusterEnabled).toBe(false);
    expect(info.role).toBe('master');
    expect(info.maxmemory).toBe(100 * 1024 * 1024);
    expect(info.maxmemoryPolicy).toBe('noeviction');
    expect(info.usedMemory).toBeGreaterThan(100_000);
    expect([...info.dbKeys].sort()).toEqual([
      [0, 2],
      [3, 1],
    ]);
    expect(info.commandsKnown).toBe(true);
    for (const c of ['lmove', 'COPY', 'xautoclaim', 'function', 'restore', 'getdel'])
      expect(info.hasCommand(c), c).toBe(true);
    for (const c of ['hpexpireat', 'hsetex', 'no-such-command']) expect(info.hasCommand(c), c).toBe(false);
    await conn.close();
  });

  test('an ACL user without INFO/CONFIG/COMMAND still gets a version (HELLO) and safe defaults', async () => {
    await srv.client.call(
      'ACL',
      'SETUSER',
      'narrow',
      'on',
      '>pw',
      '-@all',
      '+ping',
      '+auth',
      '+hello',
      '+client|setname',
    );
    const conn = await RedisConnection.connect(
      { ...parseRedisUrl(srv.url), username: 'narrow', password: 'pw' },
      'target',
    );
    const info = await probeServer(conn);
    expect(info.version).toMatch(/^7\.0\./);
    expect(info.maxRdbVersion).toBe(10);
    expect(info.protoMaxBulkLen).toBe(512 * 1024 * 1024);
    expect(info.commandsKnown).toBe(false);
    expect(info.hasCommand('restore')).toBe(true);
    await conn.close();
  });
});

describe('maxRdbVersionFor (docs/protocol.md §2.2)', () => {
  test('table', () => {
    const r = (v: string) => maxRdbVersionFor('redis', versionNumber(v));
    expect([
      r('2.6.17'),
      r('2.8.24'),
      r('3.0.7'),
      r('3.2.12'),
      r('4.0.14'),
      r('5.0.14'),
      r('6.2.14'),
    ]).toEqual([6, 6, 6, 7, 8, 9, 9]);
    expect([r('7.0.15'), r('7.2.5'), r('7.4.1'), r('8.0.0'), r('8.4.0')]).toEqual([10, 11, 12, 12, 12]);
    const v = (x: string) => maxRdbVersionFor('valkey', versionNumber(x));
    expect([v('7.2.5'), v('8.0.1'), v('8.1.0'), v('9.0.0')]).toEqual([11, 11, 11, 80]);
    expect(versionNumber('7.0.15')).toBe(70015);
    expect(versionNumber('garbage')).toBe(0);
  });
});
