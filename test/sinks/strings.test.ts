/**
 * String keys without LRU/LFU metadata go by SET (overwrite + TTL: `SET … PXAT`; skip: `SET … NX`)
 * or, in overwrite mode without a TTL, batched into MSET. The target must end up equal to the source
 * for every string encoding (binary, int-encoded, LZF-compressed, empty), across dbs, over keys of
 * other types on the target, and skip mode must leave existing keys alone and count them.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RdbDecoder } from '../../src/rdb/index.js';
import { StandaloneSink, type StandaloneSinkOptions } from '../../src/sinks/index.js';
import { compareServers } from '../helpers/compare.js';
import { startRedis, type TestServer } from '../helpers/server.js';
import { copyViaRdb, readCaps, SocketWriter } from './helpers.js';

let source: TestServer;
let target: TestServer;
const HOUR = 3_600_000;
const N = 700; // several MSET batches, and a partial one

beforeAll(async () => {
  source = await startRedis();
  target = await startRedis();
  const c = source.client;
  const p = c.pipeline();
  for (let i = 0; i < N; i++) p.set(`s:${i}`, `value-${i}`.repeat(1 + (i % 7)));
  p.set('bin', Buffer.from([0, 255, 13, 10, 36, 42, 128, 0]));
  p.set('int', '12345');
  p.set('negint', '-9007199254740991');
  p.set('lzf', 'x'.repeat(5000));
  p.set('empty', '');
  p.set('ttl', 'with-ttl', 'PX', 3 * HOUR);
  p.set('other:list', 'was a list on the target');
  p.set('other:hash', 'was a hash on the target');
  p.set('big', 'B'.repeat(200 * 1024)); // bigger than one MSET batch's value budget
  p.select(3);
  p.set('db3:a', 'in db 3');
  p.set('db3:ttl', 'db 3 with ttl', 'PX', 2 * HOUR);
  p.select(0);
  p.set('after:db3', 'back in db 0');
  await p.exec();
}, 60_000);

afterAll(async () => {
  await source?.stop();
  await target?.stop();
});

async function seedTarget(): Promise<void> {
  const t = target.client;
  await t.flushall();
  await t.rpush('other:list', 'old');
  await t.hset('other:hash', 'f', 'old');
  await t.set('s:5', 'target-value', 'PX', 5 * HOUR);
  await t.set('ttl', 'target-ttl');
}

async function run(
  opts: StandaloneSinkOptions,
  caps?: { versionNum: number },
): Promise<{
  sink: StandaloneSink;
  w: SocketWriter;
}> {
  await seedTarget();
  const w = await SocketWriter.connect(target.port, 64);
  const sink = new StandaloneSink(w, { ...(await readCaps(target.client)), ...caps }, opts);
  await copyViaRdb(source, sink, sink.decoderOptions());
  w.close();
  return { sink, w };
}

describe('string keys by SET / MSET', () => {
  it('overwrite: MSET batches and SET PXAT; target equals source, other types replaced, old TTL gone', async () => {
    const { sink, w } = await run({ onConflict: 'overwrite' });
    const r = await compareServers(source.client, target.client, { functions: false, ttlToleranceMs: 1000 });
    expect(r.diffs).toEqual([]);
    const t = target.client;
    expect(await t.pttl('s:5')).toBe(-1);
    expect(await t.pttl('ttl')).toBeGreaterThan(3 * HOUR - 60_000);
    expect(await t.getBuffer('bin')).toEqual(Buffer.from([0, 255, 13, 10, 36, 42, 128, 0]));
    expect(await t.type('other:list')).toBe('string');
    expect(w.names).toContain('MSET');
    expect(w.names).not.toContain('RESTORE');
    expect(w.names).not.toContain('DEL');
    const strings = N + 12;
    expect(sink.stats.rewriteReasons['string-set']).toBe(strings);
    expect(sink.stats.keysWritten).toBe(strings);
    // Batched: far fewer commands than keys.
    expect(w.names.filter((n) => n === 'MSET' || n === 'SET').length).toBeLessThan(strings / 10);
  });

  it('skip: SET … NX leaves existing keys (and their TTL) alone and counts each nil reply', async () => {
    const { sink, w } = await run({ onConflict: 'skip' });
    const t = target.client;
    expect(await t.get('s:5')).toBe('target-value');
    expect(await t.pttl('s:5')).toBeGreaterThan(4 * HOUR);
    expect(await t.get('ttl')).toBe('target-ttl');
    expect(await t.pttl('ttl')).toBe(-1);
    expect(await t.lrange('other:list', 0, -1)).toEqual(['old']);
    expect(await t.hgetall('other:hash')).toEqual({ f: 'old' });
    expect(await t.get('s:6')).toBe('value-6'.repeat(7));
    expect(await t.getBuffer('bin')).toEqual(Buffer.from([0, 255, 13, 10, 36, 42, 128, 0]));
    expect(await t.get('empty')).toBe('');
    expect(await t.get('int')).toBe('12345');
    expect(w.names).not.toContain('MSET');
    expect(w.names).not.toContain('EXISTS');
    expect(sink.stats.skipped.conflict).toBe(4);
    const strings = N + 12;
    expect(sink.stats.keysWritten).toBe(strings - 4);
    expect(sink.stats.rewritten.string).toBe(strings - 4);
  });

  it('input fed in 7-byte pieces through one reused buffer: keys and values crossing pieces arrive intact', async () => {
    await seedTarget();
    await source.client.save();
    const file = await readFile(path.join(source.dir, 'dump.rdb'));
    const w = await SocketWriter.connect(target.port, 64);
    const sink = new StandaloneSink(w, await readCaps(target.client), { onConflict: 'overwrite' });
    const dec = new RdbDecoder(sink, sink.decoderOptions());
    const piece = Buffer.alloc(7);
    for (let at = 0; at < file.length; at += piece.length) {
      const n = file.copy(piece, 0, at, at + piece.length);
      dec.write(piece.subarray(0, n));
      piece.fill(0x5a); // the caller reuses its chunk: nothing may still point into it
      if (sink.needsDrain) await sink.drain();
    }
    dec.end();
    await sink.flush();
    w.close();
    const r = await compareServers(source.client, target.client, { functions: false, ttlToleranceMs: 1000 });
    expect(r.diffs).toEqual([]);
    expect(w.names).toContain('MSET');
  });

  it('a target older than 6.2 keeps RESTORE for strings with a TTL (no PXAT), SET/MSET for the rest', async () => {
    const { w } = await run({ onConflict: 'overwrite' }, { versionNum: 60000 });
    const r = await compareServers(source.client, target.client, { functions: false, ttlToleranceMs: 1000 });
    expect(r.diffs).toEqual([]);
    expect(w.names.filter((n) => n === 'RESTORE')).toHaveLength(2); // ttl, db3:ttl
    expect(w.names).toContain('MSET');
  });
});
