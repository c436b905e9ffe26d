/**
 * Conflict modes and expiry: `overwrite` replaces target keys on both paths; `skip` leaves them as
 * they were and counts them (RESTORE without REPLACE → BUSYKEY; rewrite → EXISTS gate first); keys
 * already expired by the sink's clock are skipped and counted; a refused write (OOM) rejects flush
 * with ERR_TARGET_WRITE naming the key, the reply and a hint.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplicantError } from '../../src/errors.js';
import { StandaloneSink, type StandaloneSinkOptions } from '../../src/sinks/index.js';
import { compareServers } from '../helpers/compare.js';
import { bytes } from '../helpers/seed.js';
import { startRedis, type TestServer } from '../helpers/server.js';
import { copyViaRdb, readCaps, SocketWriter } from './helpers.js';

let source: TestServer;
let target: TestServer;
const HOUR = 3_600_000;

beforeAll(async () => {
  source = await startRedis();
  target = await startRedis();
  const c = source.client;
  await c.set('both:str', 'source');
  await c.rpush('both:list', ...Array.from({ length: 400 }, (_, i) => `s${i}`));
  await c.hset('both:hash', 'f', 'source');
  await c.set('new:str', 'fresh', 'PX', 3 * HOUR);
  await c.sadd('new:set', 'a', 'b');
  await c.set('exp:soon', 'gone', 'PX', HOUR); // expired for a sink whose clock is 2 h ahead
  await c.zadd('exp:zset', '1', 'a');
  await c.pexpire('exp:zset', HOUR);
  await c.select(5);
  await c.set('both:db5', 'source5');
  await c.select(0);
}, 60_000);

afterAll(async () => {
  await source?.stop();
  await target?.stop();
});

async function seedTarget(): Promise<void> {
  const t = target.client;
  await t.flushall();
  await t.set('both:str', 'target', 'PX', 5 * HOUR);
  await t.rpush('both:list', 'old');
  await t.hset('both:hash', 'f', 'target', 'g', 'h');
  await t.set('only:target', 'stays');
  await t.select(5);
  await t.set('both:db5', 'target5');
  await t.select(0);
}

async function run(opts: StandaloneSinkOptions): Promise<StandaloneSink> {
  await seedTarget();
  const w = await SocketWriter.connect(target.port, 16);
  const sink = new StandaloneSink(w, await readCaps(target.client), opts);
  await copyViaRdb(source, sink);
  w.close();
  return sink;
}

describe('conflicts', () => {
  for (const restore of ['auto', 'never'] as const) {
    it(`overwrite (restore ${restore}) replaces target keys, keeps target-only keys`, async () => {
      const sink = await run({ onConflict: 'overwrite', restore });
      const r = await compareServers(source.client, target.client, {
        functions: false,
        ignoreKeys: ['only:target'],
      });
      expect(r.diffs).toEqual([]);
      expect(await target.client.get('only:target')).toBe('stays');
      expect(await target.client.pttl('both:str')).toBe(-1); // the old TTL went with the old value
      expect(sink.stats.skipped.conflict).toBeUndefined();
    });

    it(`skip (restore ${restore}) leaves existing keys untouched and counts them`, async () => {
      const sink = await run({ onConflict: 'skip', restore, chunkElements: 50 });
      const t = target.client;
      expect(await t.get('both:str')).toBe('target');
      expect(await t.pttl('both:str')).toBeGreaterThan(4 * HOUR);
      expect(await t.lrange('both:list', 0, -1)).toEqual(['old']);
      expect(await t.hgetall('both:hash')).toEqual({ f: 'target', g: 'h' });
      const t5 = t.duplicate({ db: 5 });
      expect(await t5.get('both:db5')).toBe('target5');
      t5.disconnect();
      expect(await t.get('new:str')).toBe('fresh');
      expect(await t.pttl('new:str')).toBeGreaterThan(3 * HOUR - 60_000);
      expect(await t.smembers('new:set')).toEqual(expect.arrayContaining(['a', 'b']));
      expect(sink.stats.skipped.conflict).toBe(4);
      // restore 'auto': strings go by SET … NX (counted as rewritten), the rest by RESTORE.
      const written = [...Object.values(sink.stats.restored), ...Object.values(sink.stats.rewritten)];
      expect(written.reduce((a, b) => a + b, 0)).toBe(4); // new:str, new:set, exp:soon, exp:zset
      // A SET … NX conflict is counted from its nil reply: no EXISTS gate for a string.
      if (restore === 'auto') expect(sink.stats.rewriteReasons['string-set']).toBeGreaterThan(0);
      expect(sink.stats.keysWritten).toBe(4);
    });
  }

  it('skips and counts keys already expired by the sink clock', async () => {
    const sink = await run({ now: () => Date.now() + 2 * HOUR, restore: 'never' });
    const t = target.client;
    expect(await t.exists('exp:soon', 'exp:zset')).toBe(0);
    expect(await t.get('new:str')).toBe('fresh');
    expect(sink.stats.skipped.expired).toBe(2);
    expect(sink.stats.keys.string).toBe(4);
  });
});

describe('refused writes', () => {
  let small: TestServer;
  beforeAll(async () => {
    small = await startRedis({ maxmemory: '1mb', 'maxmemory-policy': 'noeviction' });
  });
  afterAll(async () => small?.stop());

  it('OOM on the target rejects flush with ERR_TARGET_WRITE naming the key, the reply and the hint', async () => {
    const src = await startRedis();
    try {
      const m = src.client.multi();
      for (let i = 0; i < 3000; i++) m.set(`k:${i}`, bytes(1000, i));
      await m.exec();
      for (const restore of ['auto', 'never'] as const) {
        await small.client.flushall();
        const w = await SocketWriter.connect(small.port, 64);
        const sink = new StandaloneSink(w, await readCaps(small.client), { restore });
        const err = await copyViaRdb(src, sink).then(
          () => null,
          (e: unknown) => e,
        );
        w.close();
        expect(err).toBeInstanceOf(ReplicantError);
        const e = err as ReplicantError;
        expect(e.code).toBe('ERR_TARGET_WRITE');
        // An MSET batch names its first key.
        expect(e.message).toMatch(/target refused (RESTORE|DEL|SET|MSET) on key "k:\d+" \(db 0\): OOM/);
        expect(e.hint).toMatch(/maxmemory/);
        // The sink stops: further records are ignored, drain and flush keep rejecting.
        expect(sink.needsDrain).toBe(true);
        await expect(sink.drain()).rejects.toBe(e);
        await expect(sink.flush()).rejects.toBe(e);
      }
    } finally {
      await src.stop();
    }
  }, 60_000);
});
