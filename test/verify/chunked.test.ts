/**
 * The chunked comparison of big keys (GETRANGE, LRANGE/ZRANGE windows, SSCAN + SISMEMBER, HSCAN +
 * HMGET, XRANGE pages), forced with tiny thresholds on real servers: equal copies compare equal,
 * and one changed element deep inside each big key is found.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisConnection } from '../../src/net/index.js';
import { compareKeys } from '../../src/verify/index.js';
import { seedAllTypes } from '../helpers/seed.js';
import { startRedis, type TestServer } from '../helpers/server.js';

let src: TestServer;
let dst: TestServer;
let a: RedisConnection;
let b: RedisConnection;

beforeAll(async () => {
  [src, dst] = await Promise.all([startRedis(), startRedis()]);
  await seedAllTypes(src.client, { dbs: [0], bigSize: 700 });
  await dst.client.replicaof('127.0.0.1', src.port);
  while (
    !/master_link_status:up/.test(await dst.client.info('replication')) ||
    (await dst.client.dbsize()) < (await src.client.dbsize())
  )
    await new Promise((r) => setTimeout(r, 50));
  await dst.client.replicaof('NO', 'ONE');
  a = await RedisConnection.connect({ host: '127.0.0.1', port: src.port }, 'source');
  b = await RedisConnection.connect({ host: '127.0.0.1', port: dst.port }, 'target');
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await Promise.all([src?.stop(), dst?.stop()]);
});

const OPTS = { ttlToleranceMs: 2000, bigElements: 16, bigBytes: 64 };

async function bigKeyOf(type: string): Promise<string> {
  let best = '';
  let size = -1;
  for (const k of await src.client.keys('*')) {
    if ((await src.client.type(k)) !== type) continue;
    const n = Number(
      await src.client.call(
        { string: 'STRLEN', list: 'LLEN', set: 'SCARD', zset: 'ZCARD', hash: 'HLEN', stream: 'XLEN' }[type]!,
        k,
      ),
    );
    if (n > size) [best, size] = [k, n];
  }
  expect(size).toBeGreaterThan(type === 'string' ? 64 : 16);
  return best;
}

describe('compareKeys: big keys in chunks', () => {
  it('equal copies are equal, every type', async () => {
    const keys = (await src.client.keysBuffer('*')).sort(Buffer.compare);
    const r = await compareKeys(a, b, keys, OPTS);
    expect(r.diffs).toEqual([]);
    expect(r.equal).toBe(keys.length);
  });

  const changes: [string, (k: string) => Promise<unknown>][] = [
    ['string', async (k) => dst.client.setrange(k, 100, '#')],
    ['list', async (k) => dst.client.lset(k, 500, 'changed')],
    [
      'set',
      async (k) => {
        await dst.client.srem(k, (await dst.client.srandmember(k))!);
        await dst.client.sadd(k, 'only-on-target');
      },
    ],
    ['zset', async (k) => dst.client.zincrby(k, 0.125, (await dst.client.zrange(k, 600, 600))[0]!)],
    ['hash', async (k) => dst.client.hset(k, (await dst.client.hkeys(k))[650]!, 'changed')],
    [
      'stream',
      async (k) => {
        // Same length, same last ID, one entry different in the middle (entry 40 vs entry 41 gone).
        const ids = (await src.client.xrange(k, '-', '+', 'COUNT', 50)).map((e) => e[0]);
        await src.client.xdel(k, ids[41]!);
        await dst.client.xdel(k, ids[40]!);
      },
    ],
  ];
  for (const [type, change] of changes) {
    it(`a changed element deep in a big ${type} is found`, async () => {
      const key = await bigKeyOf(type);
      await change(key);
      const r = await compareKeys(a, b, [Buffer.from(key)], OPTS);
      expect(r.diffs.map((d) => [d.key.toString(), d.kind, d.type])).toEqual([[key, 'value', type]]);
    });
  }
});
