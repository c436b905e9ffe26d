/**
 * Big keys: a 200k-element list, a 50 MB string, a 100k-field hash and a 100k-member zset, with a
 * 1 MiB bigKeyBytes. They must go as chunks (never one command above the budget), arrive equal, and
 * get their TTL only after the last chunk.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StandaloneSink } from '../../src/sinks/index.js';
import { compareServers } from '../helpers/compare.js';
import { bytes } from '../helpers/seed.js';
import { startRedis, type TestServer } from '../helpers/server.js';
import { copyViaRdb, oversized, readCaps, SocketWriter } from './helpers.js';

let source: TestServer;
let target: TestServer;
const MB = 1024 * 1024;

beforeAll(async () => {
  source = await startRedis();
  target = await startRedis();
  const c = source.client;
  for (let i = 0; i < 200_000; i += 10_000) {
    await c.rpush('big:list', ...Array.from({ length: 10_000 }, (_, j) => `item-${i + j}`));
  }
  await c.pexpireat('big:list', Date.now() + 3_600_000);
  // 50 MB, random so LZF can't shrink it below the threshold.
  const chunk = bytes(5 * MB, 7);
  await c.set('big:string', chunk);
  for (let i = 1; i < 10; i++) await c.append('big:string', chunk);
  await c.pexpireat('big:string', Date.now() + 7_200_000);
  for (let i = 0; i < 100_000; i += 10_000) {
    await c.hset(
      'big:hash',
      Object.fromEntries(Array.from({ length: 10_000 }, (_, j) => [`f${i + j}`, `v${i + j}`])),
    );
    await c.zadd(
      'big:zset',
      ...Array.from({ length: 10_000 }, (_, j) => [String((i + j) / 3), `m${i + j}`]).flat(),
    );
  }
  await c.set('small', 'x');
}, 120_000);

afterAll(async () => {
  await source?.stop();
  await target?.stop();
});

describe('big keys', () => {
  for (const auto of [false, true])
    it(`go as bounded chunks with bigKeyBytes 1 MiB and arrive equal, TTL last (decoder ${auto ? 'auto' : 'full'})`, async () => {
      await target.client.flushall();
      const w = await SocketWriter.connect(target.port, 32);
      const sink = new StandaloneSink(w, await readCaps(target.client), { bigKeyBytes: MB });
      await copyViaRdb(source, sink, auto ? sink.decoderOptions() : {});
      w.close();
      const r = await compareServers(source.client, target.client, {
        ttlToleranceMs: 1000,
        functions: false,
      });
      expect(r.diffs).toEqual([]);
      expect(r.keysCompared).toBe(5);
      expect(oversized(w, MB + 1024)).toEqual([]);
      // The list's raw body is LZF-compressed under 1 MiB: the auto decoder never expands it, so it is restored.
      // The small string goes by one SET (counted as rewritten, reason 'string-set'), the big one in chunks.
      expect(sink.stats.rewritten).toMatchObject({ list: auto ? 0 : 1, string: 2, hash: 1, zset: 1 });
      expect(sink.stats.rewriteReasons['string-set']).toBe(1);
      expect(sink.stats.restored.list).toBe(auto ? 1 : 0);
      expect(sink.stats.restored.string).toBe(0);
      // The string went as SET + APPENDs of ≤ 1 MiB, and each key's PEXPIREAT came after its last chunk.
      expect(w.names.filter((n) => n === 'APPEND').length).toBeGreaterThanOrEqual(49);
      const lastAppend = w.names.lastIndexOf('APPEND');
      const expires = w.names.flatMap((n, i) => (n === 'PEXPIREAT' ? [i] : []));
      expect(expires).toHaveLength(auto ? 1 : 2); // a restored list carries its TTL in the RESTORE
      expect(expires.some((i) => i > lastAppend)).toBe(true);
      expect(expires.every((i) => w.names[i - 1] === 'RPUSH' || w.names[i - 1] === 'APPEND')).toBe(true);
    }, 120_000);
});
