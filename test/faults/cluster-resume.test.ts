/**
 * `sync --state-dir` from a 3-master cluster source into a standalone target, through the built CLI
 * (design §6): one checkpoint key per shard (`replicant:checkpoint:<slot ranges>`). Under INCR/RPUSH
 * load on every master (a lost or doubled write shows in the counters and the sequences):
 * - SIGTERM + restart: every shard continues by partial sync (each master's sync_partial_ok +1,
 *   sync_full unchanged), target == source union at the end;
 * - kill -9 at random points of the snapshot and stream phases, each followed by a restart;
 * - one shard whose backlog lost the checkpoint: only that shard copies again, its slots emptied
 *   first (a key the source deleted meanwhile does not stay), the other shards continue;
 * - shard links cut in-process (CLIENT KILL TYPE replica): inside a copy → a new copy of that shard,
 *   its slots emptied first; in the stream → PSYNC from the shard's checkpoint;
 * - the slots moved between runs: ERR_CHECKPOINT_LAYOUT, then --flush-target starts over;
 * - a master failed over between runs (new replid): its shard continues from its key by PSYNC.
 * Plus the pure helpers of src/checkpoint/shards.ts.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import calculateSlot from 'cluster-key-slot';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  checkpointLayout,
  emptyShardSlots,
  normalizeRanges,
  shardCheckpoint,
  shardTag,
} from '../../src/checkpoint/index.js';
import { cliBuilt, runCli } from '../helpers/cli.js';
import { flattenCluster, migrateSlot, startCluster, type TestCluster, until } from '../helpers/cluster.js';
import { compareServers } from '../helpers/compare.js';
import { seedAllTypes } from '../helpers/seed.js';
import { startRedis, type TestServer } from '../helpers/server.js';
import { type CliRun, killAll, startSync } from './cli.js';
import { expectSameSequence, syncStats } from './util.js';

let cluster: TestCluster;
const servers: TestServer[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  if (!cliBuilt()) return;
  cluster = await startCluster(3, {
    config: { 'repl-diskless-sync-delay': '0', 'repl-backlog-size': '16mb' },
  });
}, 90_000);
afterAll(async () => {
  await cluster?.stop();
});
afterEach(async () => {
  killAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function server(): Promise<TestServer> {
  const s = await startRedis();
  servers.push(s);
  return s;
}
function stateDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'replicant-cstate-'));
  dirs.push(d);
  return d;
}

/** Per master: its slot ranges and a hash tag that lands on it. */
interface Owned {
  m: TestServer;
  ranges: [number, number][];
  tag: string;
}
let owned: Owned[] = [];

async function ownership(): Promise<Owned[]> {
  const masters = await cluster.currentMasters();
  const slots = (await masters[0]!.client.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
  return masters.map((m) => {
    const ranges = slots.filter(([, , n]) => Number(n[1]) === m.port).map(([a, b]) => [a, b]) as [
      number,
      number,
    ][];
    let i = 0;
    const mine = (t: string) => ranges.some(([a, b]) => calculateSlot(t) >= a && calculateSlot(t) <= b);
    while (!mine(`t${i}`)) i++;
    return { m, ranges, tag: `{t${i}}` };
  });
}

/** Fresh data on every master: all types, plus bulk keys so a full copy takes a while. */
async function seed(bulkPerMaster = 20_000): Promise<void> {
  owned = await ownership();
  for (const o of owned) {
    await o.m.client.flushall();
    await seedAllTypes(o.m.client, { dbs: [0], prefix: o.tag });
    for (let i = 0; i < bulkPerMaster / 1000; i++) {
      const args: string[] = [];
      for (let j = 0; j < 1000; j++) args.push(`${o.tag}bulk:${i}:${j}`, 'v'.repeat(64));
      await o.m.client.mset(...args);
    }
  }
}

/** 100 INCR + 100 RPUSH on each master (its own tag). */
async function counters(round: number): Promise<void> {
  await Promise.all(
    owned.map(async (o) => {
      const p = o.m.client.pipeline();
      for (let i = 0; i < 100; i++) p.incr(`${o.tag}ctr:${i % 10}`).rpush(`${o.tag}seq`, `${round}:${i}`);
      await p.exec();
    }),
  );
}

/** Load until `stop()`; `rounds()` says how many rounds were written. */
function load(): { stop(): Promise<number>; rounds(): number } {
  const ac = new AbortController();
  let rounds = 0;
  const done = (async () => {
    while (!ac.signal.aborted) {
      await counters(++rounds);
      await sleep(10);
    }
  })();
  return {
    rounds: () => rounds,
    async stop() {
      ac.abort();
      await done;
      return rounds;
    },
  };
}

/** Every master's sequence and counters on the target, `rounds * 100` long, none lost or doubled. */
async function expectSameCounters(dst: TestServer, rounds: number): Promise<void> {
  for (const o of owned) {
    const a = await o.m.client.lrange(`${o.tag}seq`, 0, -1);
    const b = await dst.client.lrange(`${o.tag}seq`, 0, -1);
    expect(a.length).toBe(rounds * 100);
    expectSameSequence(a, b, `${o.tag}seq`);
    for (let i = 0; i < 10; i++)
      expect(await dst.client.get(`${o.tag}ctr:${i}`)).toBe(await o.m.client.get(`${o.tag}ctr:${i}`));
  }
}

/** The union of the masters' keys (heartbeats left out) equals the target (checkpoint keys left out). */
async function waitEqual(dst: TestServer, ms = 60_000): Promise<number> {
  const deadline = Date.now() + ms;
  for (;;) {
    const u = await startRedis();
    try {
      await flattenCluster(cluster, u.client);
      const hb = (await u.client.keys('DTS_REDIS_TIMESTAMP_HEARTBEAT*')) as string[];
      if (hb.length > 0) await u.client.del(...hb);
      const ck = (await dst.client.keys('replicant:checkpoint:*')) as string[];
      const r = await compareServers(u.client, dst.client, {
        ignoreEntriesRead: true,
        functions: false,
        dbs: [0],
        ignoreKeys: ck,
        ttlToleranceMs: 1000,
      });
      if (r.diffs.length === 0) return r.keysCompared;
      if (Date.now() > deadline) throw new Error(`not equal: ${JSON.stringify(r.diffs.slice(0, 5))}`);
    } finally {
      await u.stop();
    }
    await sleep(300);
  }
}

/** Phase of each shard key on the target (by tag), none when absent. */
async function keyPhases(dst: TestServer): Promise<string[]> {
  const out: string[] = [];
  for (const o of owned) {
    const v = await dst.client.get(shardCheckpoint(o.ranges).key);
    out.push(v === null ? 'none' : (JSON.parse(v).phase as string));
  }
  return out;
}

async function keyValues(dst: TestServer): Promise<(string | null)[]> {
  return Promise.all(owned.map((o) => dst.client.get(shardCheckpoint(o.ranges).key)));
}
const phaseOf = (v: string | null): string => (v === null ? 'none' : (JSON.parse(v).phase as string));

/** The master's backlog no longer holds what it had (shrunk, then 100 KiB written, then grown back). */
async function overrunBacklog(o: Owned, n: number): Promise<void> {
  await o.m.client.config('SET', 'repl-backlog-size', '16kb');
  await o.m.client.set(`${o.tag}filler:${n}`, 'f'.repeat(100 * 1024));
  await o.m.client.config('SET', 'repl-backlog-size', '16mb');
}

async function allStream(dst: TestServer, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await keyPhases(dst)).every((p) => p === 'stream')) {
    if (Date.now() > deadline) throw new Error(`shards not all streaming: ${await keyPhases(dst)}`);
    await sleep(50);
  }
}

/** How the shard links of a run started: counts of partial / full syncs in its log, once all 3 did. */
async function starts(run: CliRun, ms = 60_000): Promise<{ partial: number; full: number }> {
  const count = () => ({
    partial: (run.stderr().match(/partial resync accepted/g) ?? []).length,
    full: (run.stderr().match(/full sync starting/g) ?? []).length,
  });
  const deadline = Date.now() + ms;
  for (;;) {
    const n = count();
    if (n.partial + n.full >= 3) return n;
    if (run.proc.exitCode !== null || Date.now() > deadline)
      throw new Error(`shard links did not start: ${JSON.stringify(n)}\n${run.stderr().slice(-3000)}`);
    await sleep(50);
  }
}

async function statsOfMasters(): Promise<{ full: number; partial: number }[]> {
  return Promise.all(owned.map((o) => syncStats(o.m)));
}

const src = () => ({ host: '127.0.0.1', port: cluster.masters[0]!.port });

describe.skipIf(!cliBuilt())('cluster source → standalone target with --state-dir', () => {
  it('SIGTERM under load, restart: every shard continues by partial sync, exact at the end', async () => {
    await seed(5_000);
    const dst = await server();
    const dir = stateDir();
    const a = startSync(src(), dst, ['--state-dir', dir]);
    expect(await starts(a)).toEqual({ partial: 0, full: 3 });
    await allStream(dst);
    const l = load();
    await sleep(1000);
    const endA = await a.stop();
    expect(endA.code, endA.stderr.slice(-3000)).toBe(0);
    expect(endA.stderr).toMatch(/shard checkpoint on the target/);
    // One state-dir copy per shard.
    expect(readdirSync(dir).filter((f) => f.startsWith('replicant-checkpoint-shard-')).length).toBe(3);
    await sleep(500); // writes while nothing runs
    const before = await statsOfMasters();
    const b = startSync(src(), dst, ['--state-dir', dir]);
    expect(await starts(b)).toEqual({ partial: 3, full: 0 });
    await sleep(1000);
    const rounds = await l.stop();
    const keys = await waitEqual(dst);
    expect(keys).toBeGreaterThan(15_000);
    await expectSameCounters(dst, rounds);
    const after = await statsOfMasters();
    for (let i = 0; i < 3; i++) {
      expect(after[i]!.full).toBe(before[i]!.full);
      expect(after[i]!.partial).toBe(before[i]!.partial + 1);
    }
    // verify neither reports the shard checkpoint keys as extra nor would --delete-extra remove them.
    const v = await runCli(['verify', '--source', cluster.url, '--target', dst.url]);
    expect(v.code, `${v.stdout}\n${v.stderr.slice(-2000)}`).toBe(0);
    const endB = await b.stop();
    expect(endB.code, endB.stderr.slice(-3000)).toBe(0);
    expect(endB.stderr).toMatch(/no conflict check/);
  }, 180_000);

  it('kill -9 at 8 points (inside full copies, right after them, deep in the stream) under load: exact', async () => {
    await seed(30_000);
    const dst = await server();
    const dir = stateDir();
    const l = load();
    const log: string[] = [];
    let streamKills = 0;
    let snapshotKills = 0;
    let rounds = 0;
    /** Per shard: its key still names an offset the backlog lost (killed before the new copy's marker). */
    let stale = [false, false, false];
    try {
      for (let k = 0; k < 8; k++) {
        const keys = await keyValues(dst);
        const phases = keys.map(phaseOf);
        // Every 4th restart (k = 2, 6): every master's backlog loses our offset, so every shard copies
        // again over its own earlier copy (its slots emptied first), and the kill lands inside that copy.
        const overrun = k % 4 === 2;
        if (overrun) for (const o of owned) await overrunBacklog(o, k);
        // A shard continues iff its key says stream and its backlog still holds the offset.
        const cont = phases.map((p, i) => p === 'stream' && !overrun && !stale[i]);
        const before = await statsOfMasters();
        const run = startSync(src(), dst, ['--state-dir', dir]);
        const st = await starts(run);
        const want = cont.filter(Boolean).length;
        expect(st, log.join('\n')).toEqual({ partial: want, full: 3 - want });
        if (overrun) {
          // Inside the new copies: once a shard's key says "snapshot", at a random point soon after.
          await until(
            async () => (await keyValues(dst)).some((v) => phaseOf(v) === 'snapshot'),
            30_000,
            'a snapshot key',
          );
          await sleep(Math.random() * 150);
        } else if (k % 4 === 0) await sleep(Math.random() * 400);
        else {
          await allStream(dst);
          await sleep(k % 4 === 1 ? Math.random() * 200 : 500 + Math.random() * 1000);
        }
        const atKeys = await keyValues(dst);
        const at = atKeys.map(phaseOf);
        run.proc.kill('SIGKILL');
        await run.exited;
        const after = await statsOfMasters();
        for (let i = 0; i < 3; i++) {
          expect(after[i]!.full, `shard ${i}: ${log.join('\n')}`).toBe(before[i]!.full + (cont[i] ? 0 : 1));
          expect(after[i]!.partial, `shard ${i}: ${log.join('\n')}`).toBe(
            before[i]!.partial + (cont[i] ? 1 : 0),
          );
        }
        stale = stale.map((s, i) => (overrun || s) && atKeys[i] === keys[i]);
        if (at.every((p) => p === 'stream') && !stale.some(Boolean)) streamKills++;
        else snapshotKills++;
        log.push(
          `#${k}: keys ${phases.join('/')}${overrun ? ' (backlogs overrun)' : ''} → ${JSON.stringify(st)}; killed with keys ${at.join('/')}`,
        );
      }
    } finally {
      rounds = await l.stop();
    }
    const last = startSync(src(), dst, ['--state-dir', dir]);
    await starts(last);
    await waitEqual(dst);
    await expectSameCounters(dst, rounds);
    const end = await last.stop();
    expect(end.code, end.stderr.slice(-3000)).toBe(0);
    console.log(
      `${log.join('\n')}\nrounds ${rounds}, stream-phase kills ${streamKills}, others ${snapshotKills}`,
    );
    expect(streamKills).toBeGreaterThanOrEqual(3);
    expect(snapshotKills).toBeGreaterThanOrEqual(2);
  }, 300_000);

  it("one shard's backlog lost the checkpoint: only it copies again, its slots emptied first", async () => {
    await seed(5_000);
    const dst = await server();
    const dir = stateDir();
    const a = startSync(src(), dst, ['--state-dir', dir]);
    await starts(a);
    await allStream(dst);
    await counters(1);
    await waitEqual(dst);
    expect((await a.stop()).code).toBe(0);
    // While stopped: shard 1 deletes keys the target has, and its backlog loses our offset.
    const x = owned[1]!;
    const gone = `${x.tag}bulk:0:7`;
    expect(await dst.client.exists(gone)).toBe(1);
    await x.m.client.del(gone, `${x.tag}bulk:1:3`);
    await overrunBacklog(x, 0);
    await counters(2);
    const before = await statsOfMasters();
    const b = startSync(src(), dst, ['--state-dir', dir]);
    expect(await starts(b)).toEqual({ partial: 2, full: 1 });
    await allStream(dst);
    await counters(3);
    await waitEqual(dst);
    await expectSameCounters(dst, 3);
    expect(await dst.client.exists(gone)).toBe(0);
    const after = await statsOfMasters();
    for (let i = 0; i < 3; i++) {
      expect(after[i]!.full).toBe(before[i]!.full + (i === 1 ? 1 : 0));
      expect(after[i]!.partial).toBe(before[i]!.partial + (i === 1 ? 0 : 1));
    }
    const end = await b.stop();
    expect(end.code, end.stderr.slice(-3000)).toBe(0);
    const removed = end.stderr
      .split('\n')
      .filter((l) => l.includes('removed the target keys of its slots first'));
    expect(removed.length, end.stderr.slice(-3000)).toBe(1);
    expect(removed[0]).toContain(shardTag(x.ranges));
  }, 180_000);

  it('shard links cut in-process (inside a copy, then in the stream): a new copy of that shard, then PSYNC', async () => {
    await seed(5_000);
    // Shard 0 gets a copy long enough to be cut inside it.
    const x = owned[0]!;
    for (let i = 0; i < 150; i++) {
      const args: string[] = [];
      for (let j = 0; j < 1000; j++) args.push(`${x.tag}big:${i}:${j}`, 'w'.repeat(100));
      await x.m.client.mset(...args);
    }
    const dst = await server();
    const dir = stateDir();
    const before = await statsOfMasters();
    const a = startSync(src(), dst, ['--state-dir', dir]);
    await starts(a);
    const key0 = shardCheckpoint(x.ranges).key;
    await until(async () => /"snapshot"/.test((await dst.client.get(key0)) ?? ''), 30_000, 'shard 0 copying');
    // Keys the cut copy wrote stay in place until the new copy removes them; one deleted meanwhile must go.
    await until(async () => (await dst.client.dbsize()) > 1000, 30_000, 'some keys copied');
    const gone = (await dst.client.keys(`${x.tag}big:0:*`))[0]!;
    expect(gone).toBeDefined();
    expect(Number(await x.m.client.call('CLIENT', 'KILL', 'TYPE', 'replica'))).toBe(1);
    await x.m.client.del(gone);
    await a.waitLog(/shard link lost during its full copy/);
    await a.waitLog(/removed the target keys of its slots first/);
    await allStream(dst);
    const l = load();
    await sleep(500);
    const mid = await statsOfMasters();
    for (const o of owned) expect(Number(await o.m.client.call('CLIENT', 'KILL', 'TYPE', 'replica'))).toBe(1);
    await sleep(1000);
    const rounds = await l.stop();
    await waitEqual(dst);
    await expectSameCounters(dst, rounds);
    expect(await dst.client.exists(gone)).toBe(0);
    const after = await statsOfMasters();
    for (let i = 0; i < 3; i++) {
      // Shard 0: its first copy and the one after the cut; then every shard continued by PSYNC.
      expect(mid[i]!.full).toBe(before[i]!.full + (i === 0 ? 2 : 1));
      expect(after[i]!.full).toBe(mid[i]!.full);
      expect(after[i]!.partial).toBe(mid[i]!.partial + 1);
    }
    const end = await a.stop();
    expect(end.code, end.stderr.slice(-3000)).toBe(0);
    const removed = end.stderr
      .split('\n')
      .filter((l) => l.includes('removed the target keys of its slots first'));
    expect(removed.length).toBe(1);
    expect(removed[0]).toContain(shardTag(x.ranges));
  }, 180_000);

  it('slots moved between runs: ERR_CHECKPOINT_LAYOUT names it; --flush-target starts over', async () => {
    await seed(2_000);
    const dst = await server();
    const dir = stateDir();
    const a = startSync(src(), dst, ['--state-dir', dir]);
    await starts(a);
    await allStream(dst);
    expect((await a.stop()).code).toBe(0);
    // One slot of master 0 moves to master 1 (with a key in it).
    const slot = owned[0]!.ranges[0]![0];
    const home = owned[0]!.m;
    await owned[0]!.m.client.set(`{${findKeyInSlot(slot)}}moved`, 'x');
    await migrateSlot(cluster, slot, owned[1]!.m);
    try {
      const b = startSync(src(), dst, ['--state-dir', dir]);
      const endB = await b.exited;
      expect(endB.code).toBe(2);
      expect(endB.stderr).toMatch(/slot layout changed/);
      expect(endB.stderr).toMatch(/--flush-target/);
      owned = await ownership();
      const c = startSync(src(), dst, ['--state-dir', dir, '--flush-target']);
      expect(await starts(c)).toEqual({ partial: 0, full: 3 });
      await allStream(dst);
      await waitEqual(dst);
      // The old shards' checkpoint keys and copies are gone with the flush.
      const keys = ((await dst.client.keys('replicant:checkpoint:*')) as string[]).sort();
      expect(keys).toEqual(owned.map((o) => shardCheckpoint(o.ranges).key).sort());
      expect(readdirSync(dir).filter((f) => f.startsWith('replicant-checkpoint-shard-')).length).toBe(3);
      expect((await c.stop()).code).toBe(0);
    } finally {
      // Back where it was (the other tests' ranges).
      await migrateSlot(cluster, slot, home);
      owned = await ownership();
    }
  }, 180_000);
  it('a cluster target with --state-dir is refused before any write (ERR_CONFIG)', async () => {
    await seed(0);
    const r = await runCli([
      '--source',
      cluster.url,
      '--target',
      cluster.url,
      '--state-dir',
      stateDir(),
      '--skip-precheck',
      '--no-progress',
    ]);
    expect(r.code, r.stderr.slice(-2000)).toBe(2);
    expect(r.stderr).toMatch(/does not cover a cluster target yet/);
    expect(r.stderr).toMatch(/ERR_CONFIG/);
    // Nothing written: no checkpoint key on any master.
    for (const o of owned) expect(await o.m.client.keys('replicant:checkpoint*')).toEqual([]);
  }, 60_000);
});

describe.skipIf(!cliBuilt())('cluster source with replicas, --state-dir', () => {
  it('a source master failed over between runs: its shard continues from its key on the promoted replica', async () => {
    const main = cluster;
    cluster = await startCluster(3, {
      replicas: 1,
      config: { 'repl-diskless-sync-delay': '0', 'repl-backlog-size': '16mb' },
    });
    try {
      await seed(3_000);
      const dst = await server();
      const dir = stateDir();
      const a = startSync(src(), dst, ['--state-dir', dir]);
      expect(await starts(a)).toEqual({ partial: 0, full: 3 });
      await allStream(dst);
      await counters(1);
      await waitEqual(dst);
      expect((await a.stop()).code).toBe(0);
      await counters(2);
      const old = owned[1]!;
      // TAKEOVER: no election (a manual failover right after the cluster is built can wait for votes
      // longer than its 5 s window on a loaded machine); the replica still gets a new replid.
      const promoted = cluster.replicas[cluster.masters.indexOf(old.m)]![0]!;
      const replidBefore = /master_replid:(\w+)/.exec(await old.m.client.info('replication'))![1];
      await promoted.client.call('CLUSTER', 'FAILOVER', 'TAKEOVER');
      await until(
        async () => (await promoted.client.info('replication')).includes('role:master'),
        20_000,
        'takeover',
      );
      await cluster.waitOk();
      expect(/master_replid:(\w+)/.exec(await promoted.client.info('replication'))![1]).not.toBe(
        replidBefore,
      );
      owned = await ownership();
      // Same slots, so the same shard (and key); a new master with a new replid.
      expect(owned.find((o) => o.m === promoted)?.ranges).toEqual(old.ranges);
      await counters(3);
      const before = await statsOfMasters();
      const b = startSync(src(), dst, ['--state-dir', dir]);
      expect(await starts(b)).toEqual({ partial: 3, full: 0 });
      await counters(4);
      await waitEqual(dst);
      await expectSameCounters(dst, 4);
      const after = await statsOfMasters();
      for (let i = 0; i < 3; i++) {
        expect(after[i]!.full).toBe(before[i]!.full);
        expect(after[i]!.partial).toBe(before[i]!.partial + 1);
      }
      const end = await b.stop();
      expect(end.code, end.stderr.slice(-3000)).toBe(0);
      expect(end.stderr).toMatch(/made with source 127\.0\.0\.1:\d+/);
    } finally {
      await cluster.stop();
      cluster = main;
      owned = await ownership();
    }
  }, 180_000);
});

function findKeyInSlot(slot: number): string {
  for (let i = 0; ; i++) if (calculateSlot(`k${i}`) === slot) return `k${i}`;
}

describe('shard checkpoints (src/checkpoint/shards.ts)', () => {
  it('names a shard by its slots, sorted and merged', () => {
    expect(
      normalizeRanges([
        [10, 20],
        [0, 9],
        [30, 30],
      ]),
    ).toEqual([
      [0, 20],
      [30, 30],
    ]);
    expect(shardTag([[5461, 10922]])).toBe('5461-10922');
    expect(
      shardTag([
        [30, 30],
        [0, 9],
        [10, 20],
      ]),
    ).toBe('0-20,30');
    const many = Array.from({ length: 40 }, (_, i) => [i * 10, i * 10 + 1] as [number, number]);
    expect(shardTag(many)).toMatch(/^0-391~[0-9a-f]{12}$/);
    expect(shardCheckpoint([[0, 5460]])).toMatchObject({
      key: 'replicant:checkpoint:0-5460',
      file: 'replicant-checkpoint-shard-0-5460.json',
    });
  });

  it('refuses checkpoints of slots no shard has now, unless --flush-target', () => {
    const now = [shardCheckpoint([[0, 8191]]), shardCheckpoint([[8192, 16383]])];
    expect(checkpointLayout(now, ['replicant:checkpoint:0-8191'], [], false).staleFiles).toEqual([]);
    // A shard without a checkpoint yet is fine.
    expect(() => checkpointLayout(now, [], [], false)).not.toThrow();
    let code = '';
    try {
      checkpointLayout(now, ['replicant:checkpoint:0-5460'], [], false);
    } catch (e) {
      code = (e as { code: string }).code;
    }
    expect(code).toBe('ERR_CHECKPOINT_LAYOUT');
    expect(() =>
      checkpointLayout(now, [], ['replicant-checkpoint-shard-0-5460.json', 'other.json'], false),
    ).toThrow(/slot layout changed/);
    expect(
      checkpointLayout(now, ['replicant:checkpoint:0-5460'], ['replicant-checkpoint-shard-0-5460.json'], true)
        .staleFiles,
    ).toEqual(['replicant-checkpoint-shard-0-5460.json']);
  });

  it("emptyShardSlots: marker first, then only the shard's slots (checkpoint keys kept)", async () => {
    const t = await server();
    const keys = Array.from({ length: 3000 }, (_, i) => `k${i}`);
    await t.client.mset(...keys.flatMap((k) => [k, 'v']));
    await t.client.set('replicant:checkpoint:8192-16383', 'other');
    await t.client.set('replicant:checkpoint:0-8191', 'old');
    const calls: string[] = [];
    const removed = await emptyShardSlots(
      async (argv) => {
        calls.push(String(argv[0]));
        return t.client.callBuffer(
          String(argv[0]),
          ...argv.slice(1).map((a) => (typeof a === 'number' ? String(a) : a)),
        );
      },
      {
        ranges: [[0, 8191]],
        dbs: [0],
        keyDb: 0,
        key: 'replicant:checkpoint:0-8191',
        marker: 'new',
        batch: 100,
      },
    );
    const mine = keys.filter((k) => calculateSlot(k) <= 8191);
    expect(mine.length).toBeGreaterThan(1000);
    expect(removed).toBe(mine.length);
    expect(calls.slice(0, 2)).toEqual(['SELECT', 'SET']);
    const left = (await t.client.keys('k*')) as string[];
    expect(left.sort()).toEqual(keys.filter((k) => calculateSlot(k) > 8191).sort());
    expect(await t.client.get('replicant:checkpoint:0-8191')).toBe('new');
    expect(await t.client.get('replicant:checkpoint:8192-16383')).toBe('other');
  });
});
