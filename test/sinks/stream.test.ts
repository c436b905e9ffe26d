/**
 * Streams in detail, both paths, in db 5 under a binary key: entries, last ID / entries-added /
 * max-deleted ID, groups with entries-read and lag, consumers (one without pending entries), and the
 * PEL with owners, delivery counts and idle times (within 1 s of the source's).
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StandaloneSink } from '../../src/sinks/index.js';
import { startRedis, type TestServer } from '../helpers/server.js';
import { copyViaRdb, readCaps, SocketWriter } from './helpers.js';

let source: TestServer;
let target: TestServer;
const KEY = Buffer.from([0x73, 0x00, 0xfe, 0x3a]); // "s\0\xfe:"

beforeAll(async () => {
  source = await startRedis();
  target = await startRedis();
  const c = source.client.duplicate({ db: 5 });
  for (let i = 1; i <= 30; i++)
    await c.xadd(KEY, `${100 + i}-${i}`, 'i', String(i), 'bin', Buffer.from([i, 0, 255]));
  await c.xdel(KEY, '103-3', '130-30'); // max-deleted ID is the last entry: XSETID must restore last ID
  await c.call('XGROUP', 'CREATE', KEY, 'g1', '0');
  await c.call('XGROUP', 'CREATE', KEY, 'g2', '110-10', 'ENTRIESREAD', '9');
  await c.call('XGROUP', 'CREATE', KEY, 'g3', '$');
  await c.call('XREADGROUP', 'GROUP', 'g1', 'alice', 'COUNT', '5', 'STREAMS', KEY, '>');
  await c.call('XREADGROUP', 'GROUP', 'g1', 'bob', 'COUNT', '3', 'STREAMS', KEY, '>');
  await c.call('XREADGROUP', 'GROUP', 'g2', 'carol', 'COUNT', '2', 'STREAMS', KEY, '>');
  // Old deliveries with counts > 1 (TIME sets the delivery time in the past).
  await c.call('XCLAIM', KEY, 'g1', 'bob', '0', '101-1', 'IDLE', '600000', 'RETRYCOUNT', '5', 'JUSTID');
  await c.call('XCLAIM', KEY, 'g1', 'alice', '0', '107-7', 'IDLE', '90000', 'RETRYCOUNT', '2', 'JUSTID');
  await c.call('XGROUP', 'CREATECONSUMER', KEY, 'g2', 'dave'); // no pending entries
  await c.pexpireat(KEY, Date.now() + 3_600_000);
  c.disconnect();
}, 60_000);

afterAll(async () => {
  await source?.stop();
  await target?.stop();
});

type Info = (string | number | Info)[];
const obj = (r: Info, drop: string[] = []) => {
  const o: Record<string, unknown> = {};
  for (let i = 0; i < r.length; i += 2) if (!drop.includes(String(r[i]))) o[String(r[i])] = r[i + 1];
  return o;
};

async function snapshot(client: Redis) {
  const c = client.duplicate({ db: 5 });
  try {
    const entries = await c.xrangeBuffer(KEY, '-', '+');
    const info = obj((await c.call('XINFO', 'STREAM', KEY)) as Info, ['radix-tree-keys', 'radix-tree-nodes']);
    const groups = ((await c.call('XINFO', 'GROUPS', KEY)) as Info[]).map((g) => obj(g));
    const consumers: Record<string, unknown[]> = {};
    const pending: Record<string, [string, string, number, number][]> = {};
    for (const g of ['g1', 'g2', 'g3']) {
      consumers[g] = ((await c.call('XINFO', 'CONSUMERS', KEY, g)) as Info[]).map((x) =>
        obj(x, ['seen-time', 'idle', 'inactive']),
      );
      pending[g] = (await c.call('XPENDING', KEY, g, '-', '+', '100')) as [string, string, number, number][];
    }
    return { entries, info, groups, consumers, pending, pttl: await c.pttl(KEY), type: await c.type(KEY) };
  } finally {
    c.disconnect();
  }
}

describe('streams', () => {
  for (const restore of ['auto', 'never'] as const) {
    it(`restore ${restore}: entries, IDs, groups, consumers and PEL arrive intact`, async () => {
      await target.client.flushall();
      const w = await SocketWriter.connect(target.port, 16);
      const sink = new StandaloneSink(w, await readCaps(target.client), { restore, chunkElements: 4 });
      await copyViaRdb(source, sink);
      w.close();
      const [a, b] = await Promise.all([snapshot(source.client), snapshot(target.client)]);
      expect(b.type).toBe('stream');
      expect(b.entries).toEqual(a.entries);
      expect(b.info).toEqual(a.info); // length, last-generated-id, max-deleted-entry-id, entries-added, groups
      expect(b.groups).toEqual(a.groups); // name, consumers, pending, last-delivered-id, entries-read, lag
      expect(b.consumers).toEqual(a.consumers); // names and pending counts, dave included
      for (const g of ['g1', 'g2', 'g3']) {
        expect(b.pending[g]!.map((p) => [p[0], p[1], p[3]])).toEqual(
          a.pending[g]!.map((p) => [p[0], p[1], p[3]]),
        );
        for (let i = 0; i < a.pending[g]!.length; i++)
          expect(Math.abs(b.pending[g]![i]![2] - a.pending[g]![i]![2])).toBeLessThan(1000);
      }
      expect(a.pending.g1!.some((p) => p[3] === 5 && p[2] >= 600_000)).toBe(true); // the data is what we think
      expect(Math.abs(b.pttl - a.pttl)).toBeLessThan(1000);
      expect(sink.stats[restore === 'auto' ? 'restored' : 'rewritten'].stream).toBe(1);
    });
  }
});
