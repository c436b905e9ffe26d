/** Shared checks of the fault tests: non-idempotent load, equality, the source's sync counters. */
import { expect } from 'vitest';
import { DEFAULT_CHECKPOINT_KEY } from '../../src/checkpoint/index.js';
import { compareServers } from '../helpers/compare.js';
import type { TestServer } from '../helpers/server.js';

/** 200 non-idempotent writes: 10 INCR counters and an RPUSH sequence (a lost or doubled one shows). */
export async function counters(s: TestServer, round: number): Promise<void> {
  const p = s.client.pipeline();
  for (let i = 0; i < 200; i++) p.incr(`ctr:${i % 10}`).rpush('seq', `${round}:${i}`);
  await p.exec();
}

/** The RPUSH sequence on the target equals the source's, element for element; else says how many were doubled and lost. */
export function expectSameSequence(a: string[], b: string[], what: string): void {
  if (b.length === a.length && b.every((v, i) => v === a[i])) return;
  const seen = new Map<string, number>();
  for (const v of b) seen.set(v, (seen.get(v) ?? 0) + 1);
  const dup = [...seen].filter(([, c]) => c > 1).length;
  const lost = a.filter((v) => !seen.has(v)).length;
  throw new Error(`${what} differs: ${b.length} on the target vs ${a.length}; ${dup} doubled, ${lost} lost`);
}

/** The sequence and the counters on the target are those of the source, and `n` long. */
export async function expectSameCounters(src: TestServer, dst: TestServer, n: number): Promise<void> {
  const [a, b] = [await src.client.lrange('seq', 0, -1), await dst.client.lrange('seq', 0, -1)];
  expect(a.length).toBe(n);
  expectSameSequence(a, b, 'sequence');
  for (let i = 0; i < 10; i++)
    expect(await dst.client.get(`ctr:${i}`)).toBe(await src.client.get(`ctr:${i}`));
}

export async function waitEqual(src: TestServer, dst: TestServer, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await compareServers(src.client, dst.client, {
      ignoreKeys: [DEFAULT_CHECKPOINT_KEY, 'DTS_REDIS_TIMESTAMP_HEARTBEAT'],
      ignoreEntriesRead: true,
    });
    if (r.diffs.length === 0) return;
    if (Date.now() > deadline) throw new Error(`not equal: ${JSON.stringify(r.diffs.slice(0, 5))}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

export async function syncStats(s: TestServer): Promise<{ full: number; partial: number }> {
  const info = await s.client.info('stats');
  return {
    full: Number(/sync_full:(\d+)/.exec(info)![1]),
    partial: Number(/sync_partial_ok:(\d+)/.exec(info)![1]),
  };
}
