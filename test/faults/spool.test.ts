/**
 * A slow target must never get us dropped by the source (design §4): with the source's
 * `client-output-buffer-limit replica` lowered to 4 MB and the target throttled to 2 MB/s, ~25 MB of
 * writes pass without the replica link ever being dropped — the link reads at network speed and the
 * backlog waits in the spool (memory, then disk), whose size the source status reports. With a disk
 * budget too small for that (--spool-limit) the run stops with ERR_SPOOL_FULL, checkpoint intact, and
 * the next start continues by PSYNC.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ReplicantError } from '../../src/errors.js';
import { type FaultProxy, startProxy } from '../helpers/proxy.js';
import { startRedis, type TestServer } from '../helpers/server.js';
import { type Pipeline, startPipeline } from './compose.js';
import { counters, expectSameCounters, syncStats, waitEqual } from './util.js';

const servers: TestServer[] = [];
const proxies: FaultProxy[] = [];
const pipes: Pipeline[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(pipes.splice(0).map((p) => p.stop()));
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const MB = 1024 * 1024;

async function setup(): Promise<{ src: TestServer; dst: TestServer; pt: FaultProxy; dir: string }> {
  const src = await startRedis({ 'repl-diskless-sync-delay': '0', 'repl-backlog-size': '64mb' });
  const dst = await startRedis();
  servers.push(src, dst);
  await src.client.config('SET', 'client-output-buffer-limit', 'replica 4mb 2mb 5');
  const pt = await startProxy(dst);
  proxies.push(pt);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'replicant-spool-'));
  dirs.push(dir);
  return { src, dst, pt, dir };
}

/** ~25 MB of SETs (10 KB values) with the counters interleaved, as fast as the source takes them. */
async function burst(src: TestServer): Promise<number> {
  const value = Buffer.alloc(10 * 1024, 'x');
  let rounds = 0;
  for (let i = 0; i < 25; i++) {
    const p = src.client.pipeline();
    for (let j = 0; j < 100; j++) p.set(`blob:${i}:${j}`, value);
    await p.exec();
    await counters(src, ++rounds);
  }
  return rounds;
}

describe('spool: a slow target never gets the link dropped', () => {
  it('source output buffer 4 MB, target at 2 MB/s, 25 MB of writes: link kept, spool peaks on disk', async () => {
    const { src, dst, pt, dir } = await setup();
    const pipe = startPipeline({ source: src, target: pt, spoolDir: dir, spoolMemory: 1 * MB });
    pipes.push(pipe);
    await pipe.started;
    await waitEqual(src, dst);
    const before = await syncStats(src);
    const throttle = pt.fault('trickle', { ms: 8000, bytesPerSec: 2 * MB, direction: 'toServer' });
    let peak = 0;
    let peakDisk = 0;
    const sampler = setInterval(() => {
      const s = pipe.source().status();
      peak = Math.max(peak, s.spoolBytes);
      peakDisk = Math.max(peakDisk, s.spoolDiskBytes);
    }, 50);
    try {
      const rounds = await burst(src);
      await throttle;
      await waitEqual(src, dst, 60_000);
      await expectSameCounters(src, dst, rounds * 200);
    } finally {
      clearInterval(sampler);
    }
    const after = await syncStats(src);
    console.log(JSON.stringify({ peakSpoolBytes: peak, peakSpoolDiskBytes: peakDisk, before, after }));
    expect(pipe.sourceReconnects).toBe(0);
    expect(after).toEqual(before); // never dropped: no new sync of either kind
    expect(peak).toBeGreaterThan(4 * MB); // more than the source would have held for us
    expect(peakDisk).toBeGreaterThan(0);
  }, 120_000);

  it('a disk budget too small: ERR_SPOOL_FULL with a hint, checkpoint intact, the next start continues', async () => {
    const { src, dst, pt, dir } = await setup();
    const a = startPipeline({
      source: src,
      target: pt,
      spoolDir: dir,
      spoolMemory: 1 * MB,
      spoolLimit: 2 * MB,
    });
    pipes.push(a);
    await a.started;
    await waitEqual(src, dst);
    const throttle = pt.fault('trickle', { ms: 4000, bytesPerSec: 256 * 1024, direction: 'toServer' });
    const rounds = await burst(src);
    const err = await a.done.then(
      () => null,
      (e: unknown) => e,
    );
    pipes.splice(pipes.indexOf(a), 1);
    expect(err).toBeInstanceOf(ReplicantError);
    expect((err as ReplicantError).code).toBe('ERR_SPOOL_FULL');
    expect((err as ReplicantError).hint).toBeTruthy();
    await throttle;
    const b = startPipeline({ source: src, target: dst, spoolDir: dir });
    pipes.push(b);
    expect((await b.started).mode).toBe('continue');
    await waitEqual(src, dst, 60_000);
    await expectSameCounters(src, dst, rounds * 200);
  }, 120_000);
});
