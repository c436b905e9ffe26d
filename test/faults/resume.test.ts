/**
 * Exactly-once stream writes through the checkpointed pipeline (test/faults/compose.ts), on real
 * servers: stop + restart continues by PSYNC from the checkpoint key on the target; a target
 * connection killed under load is reconnected and only the unapplied transactions are resent. INCR
 * counters and an RPUSH sequence make any lost or doubled write visible.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  DEFAULT_CHECKPOINT_KEY,
  decideResume,
  readStateCopy,
  type StateCopy,
  type TargetCheckpoint,
} from '../../src/checkpoint/index.js';
import { startProxy } from '../helpers/proxy.js';
import { seedAllTypes } from '../helpers/seed.js';
import { startRedis, type TestServer } from '../helpers/server.js';
import { type Pipeline, startPipeline } from './compose.js';
import { counters, expectSameCounters, syncStats, waitEqual } from './util.js';

const servers: TestServer[] = [];
const pipes: Pipeline[] = [];
afterEach(async () => {
  await Promise.all(pipes.splice(0).map((p) => p.stop()));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});
async function server(config: Record<string, string> = {}): Promise<TestServer> {
  const s = await startRedis({ 'repl-diskless-sync-delay': '0', ...config });
  servers.push(s);
  return s;
}
function pipeline(src: TestServer, dst: TestServer, extra: object = {}): Pipeline {
  const p = startPipeline({ source: src, target: dst, ...extra });
  pipes.push(p);
  return p;
}

describe('checkpoint key on the target', () => {
  it('stop, writes meanwhile, restart: +CONTINUE from the key, no write lost or doubled', async () => {
    const src = await server();
    const dst = await server();
    await seedAllTypes(src.client, { dbs: [0, 2] });
    const a = pipeline(src, dst);
    expect((await a.started).mode).toBe('full');
    await counters(src, 1);
    await waitEqual(src, dst);
    const ck = JSON.parse((await dst.client.get(DEFAULT_CHECKPOINT_KEY))!);
    expect(ck).toMatchObject({ phase: 'stream', source: `127.0.0.1:${src.port}` });
    await a.stop();
    pipes.splice(pipes.indexOf(a), 1);

    await counters(src, 2); // while stopped
    const before = await syncStats(src);
    const b = pipeline(src, dst);
    const st = await b.started;
    expect(st.mode).toBe('continue');
    expect(st.resumedFrom?.offset).toBeGreaterThan(0);
    await counters(src, 3);
    await waitEqual(src, dst);
    const after = await syncStats(src);
    expect(after.partial).toBe(before.partial + 1);
    expect(after.full).toBe(before.full);
    await expectSameCounters(src, dst, 600);
    expect(b.writer().stats.transactions).toBeGreaterThan(0);
  });

  it('target connection killed 5 times under load: reconnects, resends only what the key lacks', async () => {
    const src = await server();
    const dst = await server();
    await seedAllTypes(src.client, { dbs: [0] });
    const a = pipeline(src, dst);
    await a.started;
    await waitEqual(src, dst);
    const stop = new AbortController();
    let rounds = 0;
    const load = (async () => {
      while (!stop.signal.aborted) {
        await counters(src, ++rounds);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    try {
      for (let k = 0; k < 5; k++) {
        await new Promise((r) => setTimeout(r, 250));
        const killed = Number(await dst.client.call('CLIENT', 'KILL', 'USER', 'default', 'SKIPME', 'yes'));
        expect(killed).toBeGreaterThanOrEqual(1);
      }
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      stop.abort();
      await load;
    }
    await waitEqual(src, dst);
    await expectSameCounters(src, dst, rounds * 200);
    const w = a.writer().stats;
    expect(w.reconnects).toBeGreaterThanOrEqual(5);
    console.log(JSON.stringify({ rounds, ...w }));
  });

  it('replies lost after the target applied them: the key settles those transactions, nothing resent twice', async () => {
    const src = await server();
    const dst = await server();
    const pt = await startProxy(dst);
    try {
      const a = pipeline(src, dst, { target: pt });
      await a.started;
      await waitEqual(src, dst);
      const stop = new AbortController();
      let rounds = 0;
      const load = (async () => {
        while (!stop.signal.aborted) {
          await counters(src, ++rounds);
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      try {
        for (let k = 0; k < 4; k++) {
          await new Promise((r) => setTimeout(r, 200));
          // Commands reach the target, its replies are held, then the connection is reset.
          const held = pt.fault('stall', { ms: 300, direction: 'toClient' });
          await new Promise((r) => setTimeout(r, 250));
          await pt.fault('reset');
          await held;
          for (let w = 0; w < 100 && pt.open === 0; w++) await new Promise((r) => setTimeout(r, 50));
        }
      } finally {
        stop.abort();
        await load;
      }
      await waitEqual(src, dst);
      await expectSameCounters(src, dst, rounds * 200);
      const w = a.writer().stats;
      console.log(JSON.stringify({ rounds, ...w }));
      expect(w.settledByKey).toBeGreaterThan(0);
    } finally {
      await pt.close();
    }
  });

  it('a state dir whose target lost the checkpoint key: refused with its own error', async () => {
    const src = await server();
    const dst = await server();
    const state = mkdtempSync(path.join(os.tmpdir(), 'replicant-state-'));
    try {
      await counters(src, 1);
      const a = pipeline(src, dst, { stateDir: state });
      await a.started;
      await waitEqual(src, dst);
      await a.stop();
      pipes.splice(pipes.indexOf(a), 1);
      expect(readStateCopy(state)?.checkpoint.phase).toBe('stream');
      await dst.client.flushall();
      const b = pipeline(src, dst, { stateDir: state });
      const err = await b.done.then(
        () => null,
        (e: unknown) => e,
      );
      expect((err as { code?: string }).code).toBe('ERR_CHECKPOINT_MISSING_ON_TARGET');
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  });
});

describe('full resync in the middle of a run', () => {
  it('the source link comes back to a backlog that lost our offset: a new full copy in-process, exact', async () => {
    const src = await server();
    const dst = await server();
    const ps = await startProxy(src);
    try {
      await counters(src, 1);
      const a = pipeline(src, dst, { source: ps });
      await a.started;
      await counters(src, 2);
      await waitEqual(src, dst);
      const before = await syncStats(src);
      // Hold the link, push our offset out of the source's backlog, then cut it.
      const held = ps.fault('stall', { ms: 1500 });
      await src.client.config('SET', 'repl-backlog-size', '16kb');
      await src.client.set('filler', 'f'.repeat(200 * 1024));
      await counters(src, 3);
      await ps.fault('reset');
      await held;
      await counters(src, 4);
      await waitEqual(src, dst, 60_000);
      await expectSameCounters(src, dst, 4 * 200);
      const after = await syncStats(src);
      expect(after.full).toBe(before.full + 1);
      const ck = JSON.parse((await dst.client.get(DEFAULT_CHECKPOINT_KEY))!);
      expect(ck.phase).toBe('stream');
    } finally {
      await ps.close();
    }
  });
});

describe('decideResume', () => {
  const id = { source: 's:1', target: 't:1', dbs: null, dbMap: null };
  const key = (o: Partial<TargetCheckpoint>): TargetCheckpoint => ({
    v: 1,
    run: 'r1',
    seq: 10,
    phase: 'stream',
    replid: 'abc',
    offset: 500,
    db: 2,
    source: 's:1',
    at: 0,
    ...o,
  });
  const copy = (cp: TargetCheckpoint): StateCopy => ({
    version: 2,
    ...id,
    key: 'k',
    keyDb: 0,
    checkpoint: cp,
    writtenAt: '',
  });
  it('follows the table of its doc comment', () => {
    expect(decideResume(null, null, id, false)).toMatchObject({ resume: null, ownTarget: false });
    expect(decideResume(key({}), null, id, false)).toMatchObject({
      resume: { replid: 'abc', offset: 500, db: 2 },
      ownTarget: true,
    });
    expect(decideResume(key({}), copy(key({ seq: 9 })), id, false).resume?.offset).toBe(500);
    expect(decideResume(key({ phase: 'snapshot' }), null, id, false)).toMatchObject({
      resume: null,
      ownTarget: true,
    });
    expect(decideResume(key({}), null, { ...id, source: 'other:2' }, false).reason).toMatch(
      /made with source s:1/,
    );
    expect(decideResume(key({}), copy(key({})), id, true)).toMatchObject({ resume: null, ownTarget: false });
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as { code: string }).code;
      }
      return null;
    };
    expect(code(() => decideResume(null, copy(key({})), id, false))).toBe('ERR_CHECKPOINT_MISSING_ON_TARGET');
    expect(code(() => decideResume(key({ seq: 5 }), copy(key({ seq: 9 })), id, false))).toBe(
      'ERR_CHECKPOINT_TARGET_BEHIND',
    );
    expect(code(() => decideResume(key({}), copy(key({})), { ...id, target: 'x:1' }, false))).toBe(
      'ERR_CHECKPOINT_MISMATCH',
    );
  });
});
