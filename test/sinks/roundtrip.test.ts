/**
 * Source data → RDB → decoder → StandaloneSink → target, compared key by key (type, value, PTTL
 * within 1 s, streams with groups/consumers/PEL, functions) by the independent compareServers helper.
 * Both paths: `restore: 'auto'` (RESTORE for what fits) and `restore: 'never'` (all rewritten), plus a
 * tiny bigKeyBytes so the same data also goes through the chunked big-key path.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StandaloneSink, type StandaloneSinkOptions } from '../../src/sinks/index.js';
import { compareServers } from '../helpers/compare.js';
import { seedAllTypes } from '../helpers/seed.js';
import { startRedis, type TestServer } from '../helpers/server.js';
import { copyViaRdb, oversized, readCaps, SocketWriter } from './helpers.js';

let source: TestServer;
let target: TestServer;

beforeAll(async () => {
  // Small listpack limits on the source so compact and big encodings (intset/listpack/hashtable) all occur.
  source = await startRedis({ 'set-max-intset-entries': '512', 'hash-max-listpack-entries': '64' });
  target = await startRedis();
  await seedAllTypes(source.client, { dbs: [0, 5], functions: true, bigSize: 300 });
  // Extra shapes: a stream PEL entry with delivery count 3, binary key with TTL in db 5.
  await source.client.xadd('stream:x', '1-1', 'a', '1');
  await source.client.xadd('stream:x', '2-1', 'b', '2');
  await source.client.call('XGROUP', 'CREATE', 'stream:x', 'g', '0');
  await source.client.call('XREADGROUP', 'GROUP', 'g', 'alice', 'STREAMS', 'stream:x', '>');
  for (let i = 0; i < 2; i++) await source.client.call('XCLAIM', 'stream:x', 'g', 'bob', '0', '1-1');
  const c5 = source.client.duplicate({ db: 5 });
  await c5.set(Buffer.from([0xff, 0x00, 0x7f]), Buffer.from([1, 2, 3]), 'PX', 900_000);
  await c5.zadd(
    'zset:exact',
    '0.1',
    'a',
    '0.30000000000000004',
    'b',
    '-1.7976931348623157e308',
    'c',
    '5e-324',
    'd',
  );
  c5.disconnect();
}, 60_000);

afterAll(async () => {
  await source?.stop();
  await target?.stop();
});

async function run(
  opts: StandaloneSinkOptions,
  autoDecode = false,
): Promise<{ sink: StandaloneSink; w: SocketWriter }> {
  await target.client.flushall();
  await target.client.call('FUNCTION', 'FLUSH');
  const w = await SocketWriter.connect(target.port, 64);
  const sink = new StandaloneSink(w, await readCaps(target.client), opts);
  await copyViaRdb(source, sink, autoDecode ? sink.decoderOptions() : {});
  w.close();
  return { sink, w };
}

async function expectSame(): Promise<number> {
  const r = await compareServers(source.client, target.client, { ttlToleranceMs: 1000 });
  expect(r.diffs).toEqual([]);
  expect(r.keysCompared).toBeGreaterThan(60);
  return r.keysCompared;
}

describe('StandaloneSink round trip (redis 7.0 → 7.0)', () => {
  it("restore 'auto': small keys by RESTORE, target equals source", async () => {
    const { sink } = await run({ restore: 'auto' });
    const n = await expectSame();
    const s = sink.stats;
    const restored = Object.values(s.restored).reduce((a, b) => a + b, 0);
    const rewritten = Object.values(s.rewritten).reduce((a, b) => a + b, 0);
    // Strings go by one SET (counted as rewritten, reason 'string-set'); everything else by RESTORE.
    const stringSet = s.rewriteReasons['string-set'] ?? 0;
    expect(stringSet).toBe(s.keys.string);
    expect(restored + stringSet).toBe(n);
    expect(rewritten).toBe(stringSet);
    expect(s.keysWritten).toBe(n);
    expect(s.functions).toBe(1);
    expect(s.keys.stream).toBe(7);
  });

  it("restore 'never': every key rewritten with ordinary commands, target equals source", async () => {
    const { sink, w } = await run({ restore: 'never' });
    const n = await expectSame();
    const rewritten = Object.values(sink.stats.rewritten).reduce((a, b) => a + b, 0);
    expect(rewritten).toBe(n);
    expect(sink.stats.keysWritten).toBe(n);
    expect(sink.stats.rewriteReasons).toEqual({ never: n });
    expect(w.names).not.toContain('RESTORE');
    for (const c of ['RPUSH', 'SADD', 'ZADD', 'HSET', 'XADD', 'XSETID', 'XGROUP', 'XCLAIM', 'PEXPIREAT'])
      expect(w.names).toContain(c);
  });

  it("restore 'auto' with a tiny bigKeyBytes: big keys are chunked, small ones restored, still equal", async () => {
    const { sink, w } = await run({ restore: 'auto', bigKeyBytes: 4096, chunkElements: 7 });
    await expectSame();
    expect(sink.stats.rewritten.list).toBeGreaterThan(0);
    expect(sink.stats.rewriteReasons['string-set']).toBeGreaterThan(0);
    expect(Object.values(sink.stats.restored).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    // Nothing sent was bigger than the budget (plus framing), except single elements bigger than it.
    expect(oversized(w, 4096 + 256)).toEqual([]);
    expect(w.names).toContain('APPEND'); // the 70 kB strings went as SET + APPENDs
    expect(sink.stats.maxCommandBytes).toBe(Math.max(...w.sizes));
  });

  it('decoder in auto mode (elements only for keys that need them, upgrade past the threshold): still equal', async () => {
    for (const bigKeyBytes of [4096, 64 * 1024 * 1024]) {
      const { sink, w } = await run({ restore: 'auto', bigKeyBytes, chunkElements: 7 }, true);
      await expectSame();
      expect(oversized(w, bigKeyBytes + 256)).toEqual([]);
      const rewritten = Object.values(sink.stats.rewritten).reduce((a, b) => a + b, 0);
      const stringSet = sink.stats.rewriteReasons['string-set'] ?? 0;
      expect(rewritten - stringSet > 0).toBe(bigKeyBytes === 4096);
    }
    const { sink } = await run({ restore: 'never' }, true);
    await expectSame();
    expect(Object.values(sink.stats.restored).reduce((a, b) => a + b, 0)).toBe(0);
  });

  it("restore 'never' with chunkElements 1: one element per command, still equal", async () => {
    const { w } = await run({ restore: 'never', chunkElements: 1, bigKeyBytes: 2048 });
    await expectSame();
    expect(oversized(w, 2048 + 256)).toEqual([]);
  });
});
