/**
 * A Redis Cluster as the source, through the built CLI: one 3-master source cluster and one 2-master
 * target cluster for the file. Live sync cluster → standalone and cluster → 2-master cluster (different
 * shard counts) under a write load on every master: one replica link per shard (each with its own
 * heartbeat key on its shard, offsets and status), then the union of the source's keys equals the
 * target's, type by type with TTLs.
 */
import type { ChildProcess } from 'node:child_process';
import calculateSlot from 'cluster-key-slot';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, cliBuilt, runCli } from '../helpers/cli.js';
import { failover, flattenCluster, startCluster, type TestCluster, until } from '../helpers/cluster.js';
import { compareServers, type Diff } from '../helpers/compare.js';
import { runWriteLoad, seedAllTypes } from '../helpers/seed.js';
import { freePort, startRedis, type TestServer } from '../helpers/server.js';

let source: TestCluster;
let target2: TestCluster;
const servers: TestServer[] = [];

beforeAll(async () => {
  [source, target2] = await Promise.all([
    startCluster(3, { replicas: 1, config: { 'repl-diskless-sync-delay': '0' } }),
    startCluster(2),
  ]);
}, 90_000);

afterAll(async () => {
  await Promise.all([source?.stop(), target2?.stop()]);
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function server(): Promise<TestServer> {
  const s = await startRedis();
  servers.push(s);
  return s;
}

function startSync(args: string[]): { child: Promise<ChildProcess>; done: Promise<CliResult> } {
  let resolveChild!: (c: ChildProcess) => void;
  const child = new Promise<ChildProcess>((r) => {
    resolveChild = r;
  });
  const done = runCli([...args, '--no-progress'], { onSpawn: resolveChild, timeoutMs: 150_000 });
  return { child, done };
}

function syncCount(info: string, field: string): number {
  return Number(new RegExp(`^${field}:(\\d+)`, 'm').exec(info)?.[1] ?? -1);
}

async function acceptFor(m: TestServer): Promise<(n: number) => boolean> {
  const own = await ownedRanges(m.client, m.port);
  return (n: number) => {
    const x = calculateSlot(`${n}`);
    return own.some(([a, b]) => x >= a && x <= b);
  };
}

async function ownedRanges(c: Redis, port: number): Promise<[number, number][]> {
  const slots = (await c.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
  return slots.filter(([, , n]) => Number(n[1]) === port).map(([a, b]) => [a, b]);
}

/** Seed through each master: only the keys a master owns are accepted by it (the others get MOVED). */
async function seedSource(): Promise<void> {
  for (const m of await source.currentMasters()) {
    await m.client.flushall();
    const own = await ownedRanges(m.client, m.port);
    let i = 0;
    while (!own.some(([a, b]) => calculateSlot(`s${i}`) >= a && calculateSlot(`s${i}`) <= b)) i++;
    await seedAllTypes(m.client, { dbs: [0], prefix: `{s${i}}` });
  }
  // Keys that land on every master (hash tags 0..299 spread over all slots).
  for (const m of await source.currentMasters()) {
    const p = m.client.pipeline();
    for (let i = 0; i < 3000; i++) p.set(`bulk:{${i % 300}}:${i}`, `v${i}`, 'PX', 3_600_000);
    await p.exec();
  }
}

/** The source cluster's keys (heartbeat keys left out) folded into a scratch server. */
async function sourceUnion(): Promise<TestServer> {
  const a = await server();
  await flattenCluster(source, a.client);
  const hb = (await a.client.keys('DTS_REDIS_TIMESTAMP_HEARTBEAT*')) as string[];
  if (hb.length > 0) await a.client.del(...hb);
  return a;
}

async function waitEqual(
  target: () => Promise<Redis>,
  timeoutMs = 40_000,
): Promise<{ diffs: Diff[]; keysCompared: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const a = await sourceUnion();
    const t = await target();
    const res = await compareServers(a.client, t, { ignoreEntriesRead: true, functions: false, dbs: [0] });
    if (res.diffs.length === 0 || Date.now() > deadline) return res;
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function loadEveryMaster(signal: AbortSignal): Promise<number> {
  const runs = await Promise.all(
    (await source.currentMasters()).map(async (m, i) => {
      // Each master's load uses only the hash tags it owns, so nothing is refused with MOVED.
      const own = await ownedRanges(m.client, m.port);
      const acceptTag = (n: number) => {
        const s = calculateSlot(`${n}`);
        return own.some(([a, b]) => s >= a && s <= b);
      };
      return runWriteLoad(m.client, {
        ops: 10_000_000,
        signal,
        dbs: [0],
        prefix: 'load:',
        seed: 11 + i,
        clusterSafe: true,
        acceptTag,
        keyspace: 60,
      });
    }),
  ).then((x) => x);
  const res = runs;
  return res.reduce((n, r) => n + r.ops - r.errors, 0);
}

describe.skipIf(!cliBuilt())('cluster source', () => {
  for (const kind of ['standalone', '2-master cluster'] as const) {
    it(`3-master cluster → ${kind} under a write load: one link per shard, 0 diffs`, async () => {
      await seedSource();
      let targetUrl: string;
      let target: () => Promise<Redis>;
      if (kind === 'standalone') {
        const t = await server();
        targetUrl = t.url;
        target = async () => t.client;
      } else {
        for (const m of await target2.currentMasters()) await m.client.flushall();
        targetUrl = target2.url;
        target = async () => {
          const b = await server();
          await flattenCluster(target2, b.client);
          return b.client;
        };
      }
      const port = await freePort();
      const ac = new AbortController();
      const load = loadEveryMaster(ac.signal);
      const run = startSync(['--source', source.url, '--target', targetUrl, '--status-port', String(port)]);
      await new Promise((r) => setTimeout(r, 3000));
      ac.abort();
      const applied = await load;
      expect(applied).toBeGreaterThan(500);
      const exited = await Promise.race([run.done, new Promise<null>((r) => setTimeout(() => r(null), 100))]);
      expect(exited, exited?.stderr.slice(-3000)).toBeNull();

      const res = await waitEqual(target);
      const st = (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as {
        shards: {
          node: string;
          phase: string;
          heartbeatKey: string;
          ackedOffset: number;
          lagMs: number | null;
        }[];
      };
      (await run.child).kill('SIGTERM');
      const out = await run.done;
      expect(res.diffs, JSON.stringify(res.diffs.slice(0, 5))).toEqual([]);
      expect(res.keysCompared).toBeGreaterThan(1000);
      expect(out.code, out.stderr.slice(-2000)).toBe(0);
      // One link per master, each in the stream phase with its own heartbeat key on its own shard.
      expect(st.shards.length).toBe(3);
      expect(new Set(st.shards.map((s) => s.node)).size).toBe(3);
      expect(new Set(st.shards.map((s) => s.heartbeatKey)).size).toBe(3);
      for (const s of st.shards) {
        expect(s.phase).toBe('stream');
        expect(s.ackedOffset).toBeGreaterThan(0);
      }
    }, 120_000);
  }

  it('--prefer-replica syncs each shard from its replica: 0 diffs', async () => {
    await seedSource();
    await source.waitOk();
    const t = await server();
    const port = await freePort();
    // Replicas as they are now (a master may have failed over under load since the cluster was built).
    const replicaPorts = new Set<string>();
    for (const n of source.nodes)
      if ((await n.client.info('replication')).includes('role:slave'))
        replicaPorts.add(`127.0.0.1:${n.port}`);
    const run = startSync([
      '--source',
      source.url,
      '--target',
      t.url,
      '--prefer-replica',
      '--status-port',
      String(port),
    ]);
    await until(
      async () => {
        const st = (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as {
          shards: { phase: string }[];
        };
        return st.shards.length === 3 && st.shards.every((s) => s.phase === 'stream');
      },
      30_000,
      'every shard streaming',
    );
    const st = (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as {
      shards: { node: string }[];
    };
    // Each link is on a replica (each replica now has one replica of its own: us).
    for (const s of st.shards) expect(replicaPorts.has(s.node), s.node).toBe(true);
    for (const r of source.replicas.flat())
      expect(await r.client.info('replication')).toMatch(/connected_slaves:1/);
    const res = await waitEqual(async () => t.client);
    (await run.child).kill('SIGTERM');
    const out = await run.done;
    expect(res.diffs, JSON.stringify(res.diffs.slice(0, 5))).toEqual([]);
    expect(res.keysCompared).toBeGreaterThan(1000);
    expect(out.code, out.stderr.slice(-2000)).toBe(0);
  }, 90_000);

  it('follows a failover of a source master (CLUSTER FAILOVER) under load: re-discovers, continues by PSYNC, 0 diffs', async () => {
    await seedSource();
    const t = await server();
    const port = await freePort();
    const run = startSync(['--source', source.url, '--target', t.url, '--status-port', String(port)]);
    await until(
      async () => {
        const st = (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as {
          shards: { phase: string }[];
        };
        return st.shards.length === 3 && st.shards.every((s) => s.phase === 'stream');
      },
      30_000,
      'every shard streaming',
    );
    const ac = new AbortController();
    // The demoted master's load ends with MOVED (EXECABORT) at the failover: expected, not a failure.
    const load = loadEveryMaster(ac.signal).catch(() => 0);
    await new Promise((r) => setTimeout(r, 500));
    const masters = await source.currentMasters();
    const victim = masters.find((m) => source.masters.includes(m))!;
    const replica = source.replicas[source.masters.indexOf(victim)]![0]!;
    const fullBefore = syncCount(await replica.client.info('stats'), 'sync_full');
    const partialBefore = syncCount(await replica.client.info('stats'), 'sync_partial_ok');
    const promoted = await failover(source, victim);
    await new Promise((r) => setTimeout(r, 1000));
    ac.abort();
    await load;
    // Writes on the promoted master after the failover.
    const after = await runWriteLoad(promoted.client, {
      ops: 300,
      dbs: [0],
      prefix: 'post:',
      clusterSafe: true,
      acceptTag: await acceptFor(promoted),
    });
    expect(after.ops).toBe(300);
    const res = await waitEqual(async () => t.client);
    const st = (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as {
      shards: { node: string; reconnects: number }[];
    };
    (await run.child).kill('SIGTERM');
    const out = await run.done;
    expect(res.diffs, JSON.stringify(res.diffs.slice(0, 5))).toEqual([]);
    expect(out.code, out.stderr.slice(-2000)).toBe(0);
    const moved = st.shards.find((s) => s.node === `127.0.0.1:${promoted.port}`);
    expect(moved, JSON.stringify(st.shards)).toBeDefined();
    expect(moved!.reconnects).toBeGreaterThan(0);
    // Continued by PSYNC: the promoted master served no full sync to us.
    const stats = await promoted.client.info('stats');
    expect(syncCount(stats, 'sync_full')).toBe(fullBefore);
    expect(syncCount(stats, 'sync_partial_ok')).toBeGreaterThan(partialBefore);
  }, 120_000);
});
