/**
 * Exactly-once stream writes through the built CLI (`sync --state-dir`), on real servers: a target
 * connection killed under load is reconnected and only the unapplied transactions are resent; replies
 * lost after the target applied them are settled by the checkpoint key; a source link that comes
 * back to a backlog without our offset gets a new full copy in-process. INCR counters and an RPUSH
 * sequence make any lost or doubled write visible. (Stop/kill -9 + restart: test/e2e/resume.test.ts.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_CHECKPOINT_KEY,
  decideResume,
  type StateCopy,
  type TargetCheckpoint,
} from '../../src/checkpoint/index.js';
import { cliBuilt } from '../helpers/cli.js';
import { type FaultProxy, startProxy } from '../helpers/proxy.js';
import { seedAllTypes } from '../helpers/seed.js';
import { startRedis, type TestServer } from '../helpers/server.js';
import { type CliRun, killAll, startSync, status } from './cli.js';
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
async function server(config: Record<string, string> = {}): Promise<TestServer> {
  const s = await startRedis({ 'repl-diskless-sync-delay': '0', ...config });
  servers.push(s);
  return s;
}
function sync(src: { host: string; port: number }, dst: { host: string; port: number }): CliRun {
  const state = mkdtempSync(path.join(os.tmpdir(), 'replicant-state-'));
  dirs.push(state);
  return startSync(src, dst, ['--state-dir', state, '--status-port', '0', '--skip-precheck']);
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** INCR/RPUSH rounds until `during` resolves; returns how many. */
async function underLoad(src: TestServer, during: () => Promise<void>): Promise<number> {
  const stop = new AbortController();
  let rounds = 0;
  const load = (async () => {
    while (!stop.signal.aborted) {
      await counters(src, ++rounds);
      await sleep(5);
    }
  })();
  try {
    await during();
  } finally {
    stop.abort();
    await load;
  }
  return rounds;
}

describe.skipIf(!cliBuilt())('checkpoint key on the target', () => {
  it('target connection killed 5 times under load: reconnects, resends only what the key lacks', async () => {
    const src = await server();
    const dst = await server();
    await seedAllTypes(src.client, { dbs: [0] });
    const a = sync(src, dst);
    await a.started();
    await waitEqual(src, dst);
    const rounds = await underLoad(src, async () => {
      for (let k = 0; k < 5; k++) {
        await sleep(250);
        // Back from the previous cut first (the writer reconnects after a backoff).
        for (
          let w = 0;
          w < 100 && !/name=replicant/.test(String(await dst.client.call('CLIENT', 'LIST')));
          w++
        )
          await sleep(50);
        const killed = Number(await dst.client.call('CLIENT', 'KILL', 'USER', 'default', 'SKIPME', 'yes'));
        expect(killed).toBeGreaterThanOrEqual(1);
      }
      await sleep(300);
    });
    await waitEqual(src, dst);
    await expectSameCounters(src, dst, rounds * 200);
    const w = (await status(a)).checkpointWriter as { reconnects: number };
    console.log(JSON.stringify({ rounds, ...w }));
    expect(w.reconnects).toBeGreaterThanOrEqual(5);
    expect((await a.stop()).code).toBe(0);
  });

  it('replies lost after the target applied them: the key settles those transactions, nothing resent twice', async () => {
    const src = await server();
    const dst = await server();
    const pt = await startProxy(dst);
    proxies.push(pt);
    const a = sync(src, pt);
    await a.started();
    await waitEqual(src, dst);
    const rounds = await underLoad(src, async () => {
      for (let k = 0; k < 4; k++) {
        await sleep(200);
        // Commands reach the target, its replies are held, then the connection is reset.
        const held = pt.fault('stall', { ms: 300, direction: 'toClient' });
        await sleep(250);
        await pt.fault('reset');
        await held;
        for (let w = 0; w < 100 && pt.open === 0; w++) await sleep(50);
      }
    });
    await waitEqual(src, dst);
    await expectSameCounters(src, dst, rounds * 200);
    const w = (await status(a)).checkpointWriter as { settledByKey: number };
    console.log(JSON.stringify({ rounds, ...w }));
    expect(w.settledByKey).toBeGreaterThan(0);
    expect((await a.stop()).code).toBe(0);
  });
});

describe.skipIf(!cliBuilt())('full resync in the middle of a run', () => {
  it('the source link comes back to a backlog that lost our offset: a new full copy in-process, exact', async () => {
    const src = await server();
    const dst = await server();
    const ps = await startProxy(src);
    proxies.push(ps);
    await counters(src, 1);
    const a = sync(ps, dst);
    await a.started();
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
    const end = await a.stop();
    expect(end.code, end.stderr.slice(-2000)).toBe(0);
    expect(end.stderr).toMatch(/a new full copy: emptied the target DBs/);
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
