/**
 * The source link lost in the middle of the full copy, through the built CLI: the run does not stop,
 * it reconnects (backoff and jitter) and makes a new full copy in-process that doubles nothing — the
 * target DBs are emptied first (they held nothing else), keys replace, a big list rewritten by RPUSH
 * chunks is not appended twice. With --state-dir the key stays "full copy in progress" until the new
 * copy ends, then names a stream position. The source sends its RDB slowly (rdb-key-save-delay), so
 * the cut lands inside the transfer; INCR/RPUSH load runs all along. Under --on-conflict skip over an
 * occupied target a new copy would keep half-written keys: that run stops with a hint instead.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_CHECKPOINT_KEY } from '../../src/checkpoint/index.js';
import { cliBuilt, parseCliError } from '../helpers/cli.js';
import { type FaultProxy, startProxy } from '../helpers/proxy.js';
import { seedAllTypes } from '../helpers/seed.js';
import { startRedis, type TestServer } from '../helpers/server.js';
import { killAll, startSync } from './cli.js';
import { counters, expectSameCounters, syncStats, waitEqual } from './util.js';

const servers: TestServer[] = [];
const proxies: FaultProxy[] = [];
const dirs: string[] = [];
afterEach(async () => {
  killAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!cliBuilt())('source link lost during the full copy', () => {
  for (const how of ['CLIENT KILL TYPE replica, --state-dir', 'proxy reset, no --state-dir'] as const) {
    it(`${how}: a new full copy in-process, target == source, INCR/RPUSH exact`, async () => {
      const checkpointed = how.includes('--state-dir');
      const src = await startRedis({ 'repl-diskless-sync-delay': '0', 'repl-backlog-size': '16mb' });
      const dst = await startRedis();
      servers.push(src, dst);
      await seedAllTypes(src.client, { dbs: [0, 2] });
      // ~10 MB of small keys and a ~4 MB list (rewritten by RPUSH chunks under --big-key-bytes 1mb).
      for (let i = 0; i < 50; i++) {
        const args: string[] = [];
        for (let j = 0; j < 1000; j++) args.push(`bulk:${i}:${j}`, 'v'.repeat(200));
        await src.client.mset(...args);
      }
      for (let i = 0; i < 40; i++)
        await src.client.rpush(
          'biglist',
          ...Array.from({ length: 1000 }, (_, j) => `${i}:${j}:${'x'.repeat(90)}`),
        );
      const total = (await src.client.dbsize()) as number;
      // The fork sleeps 200 µs per key: the transfer takes ~10 s, the cut lands inside it.
      await src.client.config('SET', 'rdb-key-save-delay', '200');
      const ps = await startProxy(src);
      proxies.push(ps);
      const extra = ['--big-key-bytes', '1mb', '--skip-precheck'];
      if (checkpointed) {
        const state = mkdtempSync(path.join(os.tmpdir(), 'replicant-state-'));
        dirs.push(state);
        extra.push('--state-dir', state);
      }
      const before = await syncStats(src);
      const run = startSync(ps, dst, extra);
      expect(await run.started()).toBe('full');

      const stop = new AbortController();
      let rounds = 0;
      const load = (async () => {
        while (!stop.signal.aborted) {
          await counters(src, ++rounds);
          await sleep(20);
        }
      })();
      try {
        // Inside the copy: some keys on the target, far from all.
        const deadline = Date.now() + 90_000;
        while (((await dst.client.dbsize()) as number) < 500) {
          if (Date.now() > deadline) throw new Error(`no copy progress:\n${run.stderr().slice(-2000)}`);
          await sleep(20);
        }
        const mid = (await dst.client.dbsize()) as number;
        expect(mid).toBeLessThan(total / 2);
        if (checkpointed)
          expect(JSON.parse((await dst.client.get(DEFAULT_CHECKPOINT_KEY))!).phase).toBe('snapshot');
        await src.client.config('SET', 'rdb-key-save-delay', '0'); // the next copy goes at full speed
        if (how.startsWith('CLIENT KILL')) expect(await src.client.client('KILL', 'TYPE', 'replica')).toBe(1);
        else expect(await ps.fault('reset')).toBeGreaterThan(0);
        await run.waitLog(/source link lost during the full copy.*reconnecting for a new full copy/, 60_000);
        await run.waitLog(/a new full copy: emptied the target DBs/, 90_000);
        await sleep(1000);
      } finally {
        stop.abort();
        await load;
      }
      await waitEqual(src, dst, 120_000);
      await expectSameCounters(src, dst, rounds * 200);
      const after = await syncStats(src);
      expect(after.full - before.full).toBe(2); // the lost copy and the new one, nothing more
      if (checkpointed) {
        const ck = JSON.parse((await dst.client.get(DEFAULT_CHECKPOINT_KEY))!);
        expect(ck.phase).toBe('stream');
      }
      const r = await run.stop();
      expect(r.code, r.stderr.slice(-2000)).toBe(0);
      expect(r.stderr).not.toMatch(/error \[/);
      // The summary counts each key once (the new copy's), not the lost copy's keys as well.
      const info = String(await src.client.info('keyspace'));
      const sourceKeys = [...info.matchAll(/keys=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
      const counted = Number(/^\s*total\s+([\d,]+)/m.exec(r.stderr)?.[1]?.replace(/,/g, '') ?? NaN);
      expect(counted).toBeGreaterThanOrEqual(total);
      expect(counted).toBeLessThanOrEqual(sourceKeys);
      expect(r.stderr).toMatch(/full copies[^\n]*\s2\s*$/m);
    }, 240_000);
  }

  it('--on-conflict skip over an occupied target: stops with ERR_SOURCE_LOST_IN_COPY and a hint', async () => {
    const src = await startRedis({ 'repl-diskless-sync-delay': '0' });
    const dst = await startRedis();
    servers.push(src, dst);
    for (let i = 0; i < 20; i++) {
      const args: string[] = [];
      for (let j = 0; j < 1000; j++) args.push(`bulk:${i}:${j}`, 'v'.repeat(100));
      await src.client.mset(...args);
    }
    await dst.client.set('theirs', 'kept');
    await src.client.config('SET', 'rdb-key-save-delay', '300');
    const run = startSync(src, dst, ['--on-conflict', 'skip', '--skip-precheck']);
    expect(await run.started()).toBe('full');
    const deadline = Date.now() + 90_000;
    while (((await dst.client.dbsize()) as number) < 200) {
      if (Date.now() > deadline) throw new Error(`no copy progress:\n${run.stderr().slice(-2000)}`);
      await sleep(20);
    }
    await src.client.config('SET', 'rdb-key-save-delay', '0');
    expect(await src.client.client('KILL', 'TYPE', 'replica')).toBe(1);
    const r = await run.exited;
    expect(r.code, r.stderr.slice(-2000)).toBe(2);
    const err = parseCliError(r.stderr)!;
    expect(err, r.stderr.slice(-2000)).not.toBeNull();
    expect(err.code).toBe('ERR_SOURCE_LOST_IN_COPY');
    expect(err.hasStack).toBe(false);
    expect(err.hint).toMatch(/--flush-target/);
    expect(await dst.client.get('theirs')).toBe('kept');
  }, 120_000);
});
