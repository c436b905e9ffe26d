/**
 * A slow target must never get us dropped by the source (design §4): with the source's
 * `client-output-buffer-limit replica` lowered to 4 MB and the target throttled to 2 MB/s, ~25 MB of
 * writes pass without the replica link ever being dropped — the link reads at network speed and the
 * backlog waits in the spool (memory, then disk), whose size the source status reports. With a disk
 * budget too small for that (--spool-memory 1mb, --spool-limit 2mb, the target throttled harder) the
 * run stops with ERR_SPOOL_FULL, checkpoint intact, and the next start continues by PSYNC.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cliBuilt, parseCliError } from '../helpers/cli.js';
import { type FaultProxy, startProxy } from '../helpers/proxy.js';
import { startRedis, type TestServer } from '../helpers/server.js';
import { type CliRun, killAll, startSync, status } from './cli.js';
import { DEFAULT_CHECKPOINT_KEY } from '../../src/checkpoint/index.js';
import { counters, expectSameCounters, syncStats, waitEqual } from './util.js';

const servers: TestServer[] = [];
const proxies: FaultProxy[] = [];
const dirs: string[] = [];
afterEach(async () => {
  killAll();
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const MB = 1024 * 1024;

async function setup(
  backlog = '64mb',
): Promise<{ src: TestServer; dst: TestServer; pt: FaultProxy; dir: string }> {
  const src = await startRedis({ 'repl-diskless-sync-delay': '0', 'repl-backlog-size': backlog });
  const dst = await startRedis();
  servers.push(src, dst);
  await src.client.config('SET', 'client-output-buffer-limit', 'replica 4mb 2mb 5');
  const pt = await startProxy(dst);
  proxies.push(pt);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'replicant-spool-'));
  dirs.push(dir);
  return { src, dst, pt, dir };
}

/** `n` × 1 MB of SETs (10 KB values) with the counters interleaved, as fast as the source takes them. */
async function burst(src: TestServer, n = 25): Promise<number> {
  const value = Buffer.alloc(10 * 1024, 'x');
  let rounds = 0;
  for (let i = 0; i < n; i++) {
    const p = src.client.pipeline();
    for (let j = 0; j < 100; j++) p.set(`blob:${i}:${j}`, value);
    await p.exec();
    await counters(src, ++rounds);
  }
  return rounds;
}

describe.skipIf(!cliBuilt())('spool: a slow target never gets the link dropped', () => {
  it('source output buffer 4 MB, target at 2 MB/s, 25 MB of writes: link kept, spool bytes in /status', async () => {
    const { src, dst, pt, dir } = await setup();
    const run: CliRun = startSync(src, pt, ['--state-dir', dir, '--status-port', '0', '--skip-precheck']);
    await run.started();
    await waitEqual(src, dst);
    const before = await syncStats(src);
    const throttle = pt.fault('trickle', { ms: 8000, bytesPerSec: 2 * MB, direction: 'toServer' });
    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const st = await status(run);
        peak = Math.max(peak, Number(st.spoolBytes));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    let rounds = 0;
    try {
      rounds = await burst(src);
      await throttle;
      await waitEqual(src, dst, 60_000);
      await expectSameCounters(src, dst, rounds * 200);
    } finally {
      sampling = false;
      await sampler;
    }
    const after = await syncStats(src);
    const end = await run.stop();
    console.log(JSON.stringify({ peakStatusSpoolBytes: peak, rounds, before, after }));
    expect(end.code, end.stderr.slice(-2000)).toBe(0);
    expect(end.stderr).not.toMatch(/source link lost/);
    expect(after).toEqual(before); // never dropped: no new sync of either kind
    expect(peak).toBeGreaterThan(4 * MB); // more than the source would have held for us
  }, 120_000);

  it('a disk budget too small: ERR_SPOOL_FULL with a hint, checkpoint intact, the next start continues', async () => {
    const { src, dst, pt, dir } = await setup();
    // 1 MB in memory, 2 MB on disk. What the target has not answered (≤ 16 MB window on its
    // connection) is not in the spool: the burst must outrun the throttled target by more than that.
    const a = startSync(src, pt, [
      '--state-dir',
      dir,
      '--spool-memory',
      '1mb',
      '--spool-limit',
      '2mb',
      '--skip-precheck',
    ]);
    expect(await a.started()).toBe('full');
    await waitEqual(src, dst);
    for (let i = 0; i < 200 && !/"stream"/.test((await dst.client.get(DEFAULT_CHECKPOINT_KEY)) ?? ''); i++)
      await new Promise((r) => setTimeout(r, 50));
    const ckBefore = JSON.parse((await dst.client.get(DEFAULT_CHECKPOINT_KEY))!);
    expect(ckBefore.phase).toBe('stream');
    // Throttled (in 1 s slices) until the spool gave up: the source then has no replica left — our
    // link closes once the spool is full. Then what was queued drains at full speed and the error surfaces.
    let bursting = true;
    const throttle = (async () => {
      for (let i = 0; i < 180; i++) {
        await pt.fault('trickle', { ms: 1000, bytesPerSec: 256 * 1024, direction: 'toServer' });
        const info = await src.client.info('replication');
        if (!bursting && /connected_slaves:0/.test(info)) return;
      }
    })();
    const rounds = await burst(src, 40);
    bursting = false;
    await throttle;
    const ra = await a.exited;
    expect(ra.code, ra.stderr.slice(-2000)).toBe(2);
    const err = parseCliError(ra.stderr)!;
    expect(err, ra.stderr.slice(-2000)).not.toBeNull();
    expect(err.code).toBe('ERR_SPOOL_FULL');
    expect(err.hasStack).toBe(false);
    expect(err.hint).toMatch(/--spool-limit/);
    const ck = JSON.parse((await dst.client.get(DEFAULT_CHECKPOINT_KEY))!);
    expect(ck.phase).toBe('stream');
    expect(ck.offset).toBeGreaterThanOrEqual(ckBefore.offset);
    // The next start (the throttle is over) continues from the key.
    const b = startSync(src, pt, ['--state-dir', dir, '--skip-precheck']);
    expect(await b.started()).toBe('continue');
    await waitEqual(src, dst, 60_000);
    await expectSameCounters(src, dst, rounds * 200);
    expect((await b.stop()).code).toBe(0);
  }, 120_000);
});
