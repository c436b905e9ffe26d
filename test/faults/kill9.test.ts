/**
 * kill -9 at random points across the snapshot and stream phases under continuous INCR/RPUSH load,
 * each followed by a restart with the same --state-dir: the built CLI (`node dist/replica.js`). Every restart after a kill in the stream phase must
 * continue by partial sync (the source's sync_partial_ok rises, sync_full does not); after a kill
 * during a snapshot it copies again. At the end: target == source, no write lost or doubled.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_CHECKPOINT_KEY } from '../../src/checkpoint/index.js';
import { cliBuilt } from '../helpers/cli.js';
import { seedAllTypes } from '../helpers/seed.js';
import { startRedis, type TestServer } from '../helpers/server.js';
import { killAll, startSync } from './cli.js';
import { counters, expectSameCounters, syncStats, waitEqual } from './util.js';

const servers: TestServer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  killAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!cliBuilt())('kill -9 at random points', () => {
  it('20 kills across snapshot and stream under load: partial sync after stream-phase kills, exact at the end', async () => {
    const src = await startRedis({ 'repl-diskless-sync-delay': '0', 'repl-backlog-size': '16mb' });
    const dst = await startRedis();
    servers.push(src, dst);
    const state = mkdtempSync(path.join(os.tmpdir(), 'replicant-state-'));
    dirs.push(state);
    await seedAllTypes(src.client, { dbs: [0, 3] });
    // Enough keys that a full copy takes a while (kills land inside it too).
    for (let i = 0; i < 80; i++) {
      const args: string[] = [];
      for (let j = 0; j < 1000; j++) args.push(`bulk:${i}:${j}`, 'v'.repeat(64));
      await src.client.mset(...args);
    }
    const stop = new AbortController();
    let rounds = 0;
    /** While set, the load waits (a run is checked equal in the middle, then killed). */
    const gate = { paused: null as Promise<void> | null, idle: null as (() => void) | null };
    const load = (async () => {
      while (!stop.signal.aborted) {
        if (gate.paused) {
          gate.idle?.();
          await gate.paused;
          continue;
        }
        await counters(src, ++rounds);
        await sleep(15);
      }
    })();
    const log: string[] = [];
    let streamKills = 0;
    let snapshotKills = 0;
    let checked = 0;
    /** The key still names an offset the backlog lost (killed before the new copy replaced it). */
    let stale = false;
    try {
      for (let k = 0; k < 20; k++) {
        const key = await dst.client.get(DEFAULT_CHECKPOINT_KEY);
        const phase = key === null ? 'none' : (JSON.parse(key).phase as string);
        // Every 4th restart: the backlog no longer holds the checkpoint (FULLRESYNC → a new full copy
        // over the target, which must double nothing), and the kill lands inside that copy.
        const overrun = k % 4 === 2;
        if (overrun) {
          await src.client.config('SET', 'repl-backlog-size', '16kb');
          await src.client.set(`filler:${k}`, 'f'.repeat(100 * 1024));
          await src.client.config('SET', 'repl-backlog-size', '16mb');
        }
        const before = await syncStats(src);
        const c = startSync(src, dst, ['--state-dir', state]);
        const st = { started: await c.started().catch((e: Error) => e.message) };
        // A kill in the stream phase must come back by partial sync; otherwise a new full copy.
        if (phase === 'stream' && !overrun && !stale) expect(st.started, log.join('\n')).toBe('continue');
        else expect(st.started, log.join('\n')).toBe('full');
        // Kills inside a full copy, right at the switch to the stream, and well into the stream.
        if (overrun) {
          await sleep(Math.random() * 250); // inside the new full copy
        } else {
          // After a kill inside a copy, the new copy first runs to the stream (each case once per cycle).
          if (st.started === 'full')
            for (
              let w = 0;
              w < 200 && !/"stream"/.test((await dst.client.get(DEFAULT_CHECKPOINT_KEY)) ?? '');
              w++
            )
              await sleep(25);
          await sleep(k % 2 === 0 ? Math.random() * 300 : 300 + Math.random() * 1000);
          if (k % 4 === 1) {
            // Every 4th run is checked in its stream phase: load paused, target == source (type,
            // value, TTL) and the counters exact, then the load goes on and the run is killed.
            let go!: () => void;
            gate.paused = new Promise<void>((r) => {
              go = r;
            });
            await new Promise<void>((r) => {
              gate.idle = r;
            });
            await waitEqual(src, dst, 30_000);
            await expectSameCounters(src, dst, rounds * 200);
            checked++;
            gate.paused = null;
            gate.idle = null;
            go();
            await sleep(100 + Math.random() * 300);
          }
        }
        const ck = await dst.client.get(DEFAULT_CHECKPOINT_KEY);
        const at = ck === null ? 'none' : (JSON.parse(ck).phase as string);
        c.proc.kill('SIGKILL');
        await c.exited;
        stale = (overrun || stale) && ck === key;
        const after = await syncStats(src);
        if (st.started === 'continue') {
          expect(after.full).toBe(before.full);
          expect(after.partial).toBe(before.partial + 1);
        }
        // A kill before the new copy replaced an overrun key is a kill at the start of that copy.
        if (at === 'stream' && !stale) streamKills++;
        else snapshotKills++;
        log.push(
          `#${k}: key ${phase}${overrun ? ' (backlog overrun)' : ''} → ${st.started}; killed with key ${at}`,
        );
      }
    } finally {
      stop.abort();
      await load;
    }
    const last = startSync(src, dst, ['--state-dir', state]);
    await last.started();
    await waitEqual(src, dst, 60_000);
    await expectSameCounters(src, dst, rounds * 200);
    const end = await last.stop();
    expect(end.code, end.stderr).toBe(0);
    console.log(
      `${log.join('\n')}\nrounds ${rounds}, runs checked equal mid-stream ${checked}, stream-phase kills ${streamKills}, snapshot-phase kills ${snapshotKills}`,
    );
    expect(checked).toBe(5);
    expect(streamKills).toBeGreaterThanOrEqual(10);
    expect(snapshotKills).toBeGreaterThanOrEqual(3);
  }, 300_000);
});
