/**
 * A Redis Cluster as the target, through the built CLI: one 3-master cluster (a replica each) for
 * the file. An RDB file restored into it; then a live sync of a standalone source with DBs 0 and 1
 * (`--db-map 1:0`) under a write load while one slot is migrated between masters (SETSLOT IMPORTING/
 * MIGRATING + MIGRATE) and one master is failed over (CLUSTER FAILOVER on its replica): the union
 * of the cluster's keys equals the source's, type by type with TTLs, the run never stops, and
 * /status shows the redirections it followed.
 */
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, cliBuilt, runCli } from '../helpers/cli.js';
import {
  failover,
  flattenCluster,
  migrateSlot,
  ownerOf,
  startCluster,
  type TestCluster,
  copyKeys,
  until,
} from '../helpers/cluster.js';
import { compareServers, type Diff } from '../helpers/compare.js';
import { runWriteLoad, SEED_FUNCTION_LIBRARY, seedAllTypes } from '../helpers/seed.js';
import { freePort, startRedis, type TestServer } from '../helpers/server.js';

const HEARTBEAT = 'DTS_REDIS_TIMESTAMP_HEARTBEAT';
let cluster: TestCluster;
const servers: TestServer[] = [];

beforeAll(async () => {
  cluster = await startCluster(3, { replicas: 1 });
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function server(config: Record<string, string> = {}): Promise<TestServer> {
  const s = await startRedis(config);
  servers.push(s);
  return s;
}

async function flushCluster(): Promise<void> {
  for (const m of await cluster.currentMasters()) await m.client.flushall();
}

/** Source DBs folded into one scratch server's DB 0, the cluster into another; compared by compare.ts. */
async function compareWithCluster(
  src: TestServer,
  dbs: number[],
): Promise<{ diffs: Diff[]; keysCompared: number }> {
  const a = await server();
  const b = await server();
  try {
    for (const db of dbs) {
      const c = src.client.duplicate({ db });
      await copyKeys(c, a.client);
      c.disconnect();
    }
    await flattenCluster(cluster, b.client);
    return await compareServers(a.client, b.client, {
      ignoreKeys: [HEARTBEAT],
      ignoreEntriesRead: true,
      functions: false,
      dbs: [0],
    });
  } finally {
    await Promise.all([a.stop(), b.stop()]);
    servers.splice(servers.indexOf(a), 1);
    servers.splice(servers.indexOf(b), 1);
  }
}

async function waitEqual(src: TestServer, dbs: number[], timeoutMs = 40_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // The cluster's map may still be settling after a failover (a node answers MOVED): look again.
    const res = await compareWithCluster(src, dbs).catch((err: Error) => {
      if (Date.now() > deadline) throw err;
      return null;
    });
    if (res && (res.diffs.length === 0 || Date.now() > deadline)) return res;
    await new Promise((r) => setTimeout(r, 500));
  }
}

function startSync(args: string[]): { child: Promise<ChildProcess>; done: Promise<CliResult> } {
  let resolveChild!: (c: ChildProcess) => void;
  const child = new Promise<ChildProcess>((r) => {
    resolveChild = r;
  });
  const done = runCli([...args, '--no-progress'], { onSpawn: resolveChild, timeoutMs: 180_000 });
  return { child, done };
}

describe.skipIf(!cliBuilt())('cluster target', () => {
  it('restore: an RDB file with every type into a 3-master cluster, function library on every master', async () => {
    await flushCluster();
    const src = await server();
    await seedAllTypes(src.client, { dbs: [0], functions: true });
    await src.client.save();
    const r = await runCli(
      ['restore', '--rdb', path.join(src.dir, 'dump.rdb'), '--target', cluster.url, '--no-progress'],
      { timeoutMs: 60_000 },
    );
    expect(r.stderr).not.toMatch(/^error/m);
    expect(r.code).toBe(0);
    const res = await compareWithCluster(src, [0]);
    expect(res.diffs, JSON.stringify(res.diffs.slice(0, 5))).toEqual([]);
    expect(res.keysCompared).toBeGreaterThan(20);
    // Keys landed on all three masters.
    for (const m of await cluster.currentMasters()) expect(await m.client.dbsize()).toBeGreaterThan(0);
    for (const m of await cluster.currentMasters()) {
      const libs = (await m.client.call('FUNCTION', 'LIST')) as unknown[];
      expect(JSON.stringify(libs)).toContain('replicant_seed');
    }
    expect(SEED_FUNCTION_LIBRARY).toContain('replicant_seed');
  }, 90_000);

  it('live sync DBs 0 and 1 → cluster (--db-map 1:0) under load, with a slot migration and a failover: 0 diffs', async () => {
    await flushCluster();
    for (const m of await cluster.currentMasters()) await m.client.call('FUNCTION', 'FLUSH');
    const src = await server({ 'repl-diskless-sync-delay': '0' });
    await seedAllTypes(src.client, { dbs: [0], prefix: 'a:' });
    await seedAllTypes(src.client, { dbs: [1], prefix: 'b:' });
    const pipe = src.client.pipeline();
    for (let i = 0; i < 30_000; i++) pipe.set(`bulk:{${i % 500}}:${i}`, `value-${i}`);
    await pipe.exec();

    const statusPort = await freePort();
    const ac = new AbortController();
    const load0 = runWriteLoad(src.client, {
      ops: 10_000_000,
      signal: ac.signal,
      dbs: [0],
      prefix: 'a:',
      seed: 3,
      clusterSafe: true,
    });
    const load1 = runWriteLoad(src.client, {
      ops: 10_000_000,
      signal: ac.signal,
      dbs: [1],
      prefix: 'b:',
      seed: 5,
      clusterSafe: true,
    });
    const run = startSync([
      '--source',
      src.url,
      '--target',
      cluster.url,
      '--db-map',
      '1:0',
      '--allow-db-merge', // DBs 0 and 1 merged into the cluster's DB 0
      '--status-port',
      String(statusPort),
    ]);
    await new Promise((r) => setTimeout(r, 2500));

    // A slot that holds load keys (a:{7}:… hashes to it) moves from its owner to another master.
    const slot = Number(await cluster.masters[0]!.client.call('CLUSTER', 'KEYSLOT', 'a:{7}:str'));
    const from = await ownerOf(cluster, slot);
    const masters = await cluster.currentMasters();
    const to = masters.find((m) => m !== from)!;
    await migrateSlot(cluster, slot, to, 50);
    // One master fails over to its replica: the third one, neither end of the migration. (The old owner's
    // replica, promoted before it has heard of the slot's new owner, can claim the slot back with a newer
    // epoch — a Redis race, not one of ours — and split the slot's keys across two nodes.)
    const victim = masters.find((m) => m !== to && m !== from && cluster.masters.includes(m))!;
    await failover(cluster, victim);
    await new Promise((r) => setTimeout(r, 1500));
    ac.abort();
    const loads = await Promise.all([load0, load1]);
    expect(loads[0].ops + loads[1].ops).toBeGreaterThan(2000);

    const exited = await Promise.race([run.done, new Promise<null>((r) => setTimeout(() => r(null), 100))]);
    expect(exited, exited?.stderr.slice(-3000)).toBeNull();
    const res = await waitEqual(src, [0, 1]);
    const status = (await (await fetch(`http://127.0.0.1:${statusPort}/status`)).json()) as {
      cluster?: { moved: number; ask: number; refreshes: number; masters: number };
      phase: string;
    };
    const child = await run.child;
    child.kill('SIGTERM');
    const out = await run.done;
    expect(res.diffs, JSON.stringify(res.diffs.slice(0, 5))).toEqual([]);
    expect(res.keysCompared).toBeGreaterThan(30_000);
    expect(out.stderr).not.toMatch(/^error/m);
    expect(out.code, out.stderr.slice(-2000)).toBe(0);
    expect(status.phase).toBe('stream');
    expect(status.cluster).toBeDefined();
    // The slot move and the failover were seen as redirections, and the map was read again.
    expect(status.cluster!.moved + status.cluster!.ask).toBeGreaterThan(0);
    expect(status.cluster!.refreshes).toBeGreaterThan(0);
    console.log('cluster target counters', JSON.stringify(status.cluster));
  }, 150_000);

  it('a target master killed (SIGKILL) mid-sync: writes wait for its replica to take over, then land; no abort, 0 diffs', async () => {
    await flushCluster();
    const src = await server({ 'repl-diskless-sync-delay': '0' });
    await seedAllTypes(src.client, { dbs: [0], prefix: 'k:' });
    const statusPort = await freePort();
    const run = startSync([
      '--source',
      src.url,
      '--target',
      cluster.url,
      '--status-port',
      String(statusPort),
    ]);
    const status = async () =>
      (await (await fetch(`http://127.0.0.1:${statusPort}/status`)).json()) as {
        phase: string;
        cluster?: { connectionRetries: number; clusterdown: number; refreshes: number; moved: number };
      };
    await until(async () => (await status()).phase === 'stream', 30_000, 'stream phase').catch(async (e) => {
      const early = await Promise.race([run.done, new Promise<null>((r) => setTimeout(() => r(null), 100))]);
      throw new Error(`${e}: ${early?.stderr.slice(-2000)}`);
    });
    await runWriteLoad(src.client, { ops: 2000, dbs: [0], prefix: 'k:', seed: 21, clusterSafe: true });
    let res = await waitEqual(src, [0]);
    expect(res.diffs, JSON.stringify(res.diffs.slice(0, 5))).toEqual([]);
    // A master with a live replica, its writes replicated: then it dies.
    const masters = await cluster.currentMasters();
    const victim = masters.find((m) => cluster.nodes.some((n) => n !== m && n.proc.exitCode === null))!;
    await victim.client.call('WAIT', 1, 5000);
    victim.client.on('error', () => {}); // its test client reconnects in vain from now on
    victim.proc.kill('SIGKILL');
    await new Promise((r) => victim.proc.once('exit', r));
    victim.client.disconnect(); // no reconnect attempts (and their rejected retries) from here on
    // Writes for every shard while the dead one has no master yet.
    await runWriteLoad(src.client, { ops: 2000, dbs: [0], prefix: 'k:', seed: 22, clusterSafe: true });
    // cluster_state stays ok until the others have timed the dead node out: wait for its replica to
    // own its slots first (currentMasters lists masters with slots and no fail flag).
    await until(async () => !(await cluster.currentMasters()).includes(victim), 60_000, 'the failover');
    await cluster.waitOk(60_000);
    res = await waitEqual(src, [0], 60_000);
    const st = await status();
    const exited = await Promise.race([run.done, new Promise<null>((r) => setTimeout(() => r(null), 100))]);
    expect(exited, exited?.stderr.slice(-3000)).toBeNull();
    (await run.child).kill('SIGTERM');
    const out = await run.done;
    expect(res.diffs, JSON.stringify(res.diffs.slice(0, 5))).toEqual([]);
    expect(out.code, out.stderr.slice(-2000)).toBe(0);
    expect(st.cluster!.connectionRetries + st.cluster!.clusterdown).toBeGreaterThan(0);
    expect(st.cluster!.refreshes).toBeGreaterThan(0);
    console.log('dead master counters', JSON.stringify(st.cluster));
  }, 150_000);
});
