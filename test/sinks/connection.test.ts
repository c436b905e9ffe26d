/**
 * The sink on the real data path: src/net RedisConnection (pipelined, bounded window, one socket
 * write per tick) and classifyReplyError. Whole dataset both paths, stream phase with acks, and a
 * refused write whose error carries the classifier's hint.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyReplyError, parseRedisUrl, probeServer, RedisConnection } from '../../src/net/index.js';
import type { Position } from '../../src/records.js';
import { StandaloneSink } from '../../src/sinks/index.js';
import { compareServers } from '../helpers/compare.js';
import { bytes, seedAllTypes } from '../helpers/seed.js';
import { startRedis, type TestServer } from '../helpers/server.js';
import { copyViaRdb } from './helpers.js';

let source: TestServer;
let target: TestServer;

beforeAll(async () => {
  source = await startRedis();
  target = await startRedis();
  await seedAllTypes(source.client, { dbs: [0, 5], functions: true });
}, 60_000);

afterAll(async () => {
  await source?.stop();
  await target?.stop();
});

async function connect(t: TestServer, maxInFlight = 64): Promise<RedisConnection> {
  return RedisConnection.connect(
    { ...parseRedisUrl(t.url), maxInFlight, maxInFlightBytes: 1024 * 1024 },
    'target',
  );
}

describe('StandaloneSink over RedisConnection', () => {
  for (const restore of ['auto', 'never'] as const) {
    it(`copies every type (restore ${restore}) and the target equals the source`, async () => {
      await target.client.flushall();
      await target.client.call('FUNCTION', 'FLUSH');
      const conn = await connect(target);
      const sink = new StandaloneSink(conn, await probeServer(conn), {
        restore,
        bigKeyBytes: 16 * 1024,
        classify: classifyReplyError,
      });
      await copyViaRdb(source, sink, sink.decoderOptions());
      await sink.close();
      await conn.close();
      const r = await compareServers(source.client, target.client, { ttlToleranceMs: 1000 });
      expect(r.diffs).toEqual([]);
      expect(sink.stats.keysWritten).toBe(r.keysCompared);
    });
  }

  it('stream phase: commands across DBs, MULTI, positions acked in order after the replies', async () => {
    await target.client.flushall();
    const conn = await connect(target, 4);
    const sink = new StandaloneSink(conn, await probeServer(conn), { classify: classifyReplyError });
    const acks: number[] = [];
    sink.onAck((p: Position) => acks.push(p.offset));
    const b = (...a: string[]) => a.map((s) => Buffer.from(s));
    for (let i = 1; i <= 1000; i++) {
      if (i % 10 === 0)
        sink.command({
          db: 2,
          argv: [],
          offset: i,
          multi: [b('INCR', 'n'), b('SELECT', '3'), b('INCR', 'n')],
        });
      else sink.command({ db: i % 2, argv: b('INCR', 'n'), offset: i });
      if (i % 100 === 0) sink.position({ replid: 'x', offset: i, db: 0 });
      if (sink.needsDrain) await sink.drain();
    }
    await sink.flush();
    expect(acks).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
    const get = async (db: number) => {
      const c = target.client.duplicate({ db });
      const v = await c.get('n');
      c.disconnect();
      return Number(v);
    };
    expect([await get(0), await get(1), await get(2), await get(3)]).toEqual([400, 500, 100, 100]); // even non-multiples of 10 on db 0, odd on db 1
    expect(sink.stats.commands).toBe(1000);
    await conn.close();
  });

  it('a lost target connection rejects flush and drain with ERR_TARGET_CONNECTION_LOST, no ack after it', async () => {
    const gone = await startRedis();
    const conn = await connect(gone, 100_000);
    const sink = new StandaloneSink(conn, await probeServer(conn));
    const acks: number[] = [];
    sink.onAck((p: Position) => acks.push(p.offset));
    await gone.client.call('CLIENT', 'PAUSE', '2000', 'ALL'); // keep our writes unanswered until the kill
    for (let i = 0; i < 1000; i++)
      sink.command({ db: 0, argv: [Buffer.from('SET'), Buffer.from(`k${i}`), Buffer.from('v')], offset: i });
    sink.position({ replid: 'x', offset: 999, db: 0 });
    gone.proc.kill('SIGKILL');
    await expect(sink.flush()).rejects.toMatchObject({ code: 'ERR_TARGET_CONNECTION_LOST' });
    await expect(sink.drain()).rejects.toMatchObject({ code: 'ERR_TARGET_CONNECTION_LOST' });
    expect(acks).toEqual([]);
    await gone.stop();
  });

  it('a refused write rejects with ERR_TARGET_WRITE and the classifier hint', async () => {
    const small = await startRedis({ maxmemory: '1mb', 'maxmemory-policy': 'noeviction' });
    try {
      const conn = await connect(small);
      const sink = new StandaloneSink(conn, await probeServer(conn), { classify: classifyReplyError });
      for (let i = 0; i < 3000 && !sink.needsDrain; i++) {
        sink.command({
          db: 0,
          argv: [Buffer.from('SET'), Buffer.from(`big:${i}`), bytes(2000, i)],
          offset: i,
        });
      }
      const err = await sink.flush().catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ERR_TARGET_WRITE', hint: expect.stringContaining('maxmemory') });
      expect((err as Error).message).toMatch(/refused SET on key "big:\d+" \(db 0\): OOM/);
      await conn.close();
    } finally {
      await small.stop();
    }
  });
});
