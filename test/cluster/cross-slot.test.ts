/**
 * Cross-slot writes from a standalone source's stream into a 3-master cluster (one per file), through
 * the built CLI: a MULTI group whose keys span slots stops the run with ERR_CROSS_SLOT by default (exit
 * 2, the hint naming --cross-slot split, nothing of the group applied); with `--cross-slot split` it is
 * applied command by command and counted, and DEL/MSET across slots are split by slot: 0 diffs.
 */
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, cliBuilt, parseCliError, runCli } from '../helpers/cli.js';
import { copyKeys, flattenCluster, startCluster, type TestCluster, until } from '../helpers/cluster.js';
import { compareServers } from '../helpers/compare.js';
import { seedAllTypes } from '../helpers/seed.js';
import { freePort, startRedis, type TestServer } from '../helpers/server.js';

const HEARTBEAT = 'DTS_REDIS_TIMESTAMP_HEARTBEAT';
let cluster: TestCluster;
const servers: TestServer[] = [];

beforeAll(async () => {
  cluster = await startCluster(3);
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

function startSync(args: string[]): { child: Promise<ChildProcess>; done: Promise<CliResult> } {
  let resolveChild!: (c: ChildProcess) => void;
  const child = new Promise<ChildProcess>((r) => {
    resolveChild = r;
  });
  const done = runCli([...args, '--no-progress'], { onSpawn: resolveChild, timeoutMs: 120_000 });
  return { child, done };
}

async function status(port: number): Promise<Record<string, unknown> & { cluster?: Record<string, number> }> {
  return (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as Record<string, unknown>;
}

async function slotOf(key: string): Promise<number> {
  return Number(await cluster.masters[0]!.client.call('CLUSTER', 'KEYSLOT', key));
}

async function clusterGet(key: string): Promise<string | null> {
  for (const m of await cluster.currentMasters()) {
    const v = await m.client.get(key).catch(() => null);
    if (v !== null) return v;
  }
  return null;
}

describe.skipIf(!cliBuilt())('several source DBs into a cluster', () => {
  it('keys colliding across DBs mapped to 0 stop the copy (ERR_DB_COLLISION); overwrite: last DB wins; skip: first', async () => {
    const src = await server();
    await src.client.set('dup', 'from-db0');
    await src.client.set('only0', 'x');
    const c1 = src.client.duplicate({ db: 1 });
    await c1.set('dup', 'from-db1');
    await c1.set('only1', 'y');
    c1.disconnect();
    await src.client.save();
    const rdb = path.join(src.dir, 'dump.rdb');
    const flush = async () => {
      for (const m of await cluster.currentMasters()) await m.client.flushall();
    };
    await flush();
    const refused = await runCli([
      'restore',
      '--rdb',
      rdb,
      '--target',
      cluster.url,
      '--db-map',
      '1:0',
      '--allow-db-merge', // DBs 0 and 1 merged into the cluster's DB 0
      '--no-progress',
    ]);
    expect(refused.code).toBe(2);
    const e = parseCliError(refused.stderr);
    expect(e?.code, refused.stderr).toBe('ERR_DB_COLLISION');
    expect(e?.message).toMatch(/"dup"/);
    expect(e?.hint).toMatch(/--on-conflict overwrite/);

    await flush();
    const over = await runCli([
      'restore',
      '--rdb',
      rdb,
      '--target',
      cluster.url,
      '--db-map',
      '1:0',
      '--allow-db-merge', // DBs 0 and 1 merged into the cluster's DB 0
      '--on-conflict',
      'overwrite',
      '--no-progress',
    ]);
    expect(over.code, over.stderr).toBe(0);
    expect(await clusterGet('dup')).toBe('from-db1');
    expect(await clusterGet('only0')).toBe('x');
    expect(await clusterGet('only1')).toBe('y');

    await flush();
    const skip = await runCli([
      'restore',
      '--rdb',
      rdb,
      '--target',
      cluster.url,
      '--db-map',
      '1:0',
      '--allow-db-merge', // DBs 0 and 1 merged into the cluster's DB 0
      '--on-conflict',
      'skip',
      '--no-progress',
    ]);
    expect(skip.code, skip.stderr).toBe(0);
    expect(await clusterGet('dup')).toBe('from-db0');
    expect(await clusterGet('only1')).toBe('y');
  }, 60_000);

  it('without --db-map, keys in DB 1 refuse a cluster target before writing (precheck CLUSTER_DBS)', async () => {
    const src = await server();
    const c1 = src.client.duplicate({ db: 1 });
    await c1.set('k1', 'v');
    c1.disconnect();
    for (const m of await cluster.currentMasters()) await m.client.flushall();
    const r = await runCli(['--source', src.url, '--target', cluster.url, '--no-progress'], {
      timeoutMs: 30_000,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--db-map 1:0/);
    expect(await clusterGet('k1')).toBeNull();
  }, 60_000);
});

describe.skipIf(!cliBuilt())('verify with a cluster side', () => {
  it('standalone vs cluster (and back): equal copies pass, a changed key is found and repaired', async () => {
    const src = await server();
    await seedAllTypes(src.client, { dbs: [0] });
    await src.client.save();
    for (const m of await cluster.currentMasters()) await m.client.flushall();
    const r = await runCli([
      'restore',
      '--rdb',
      path.join(src.dir, 'dump.rdb'),
      '--target',
      cluster.url,
      '--no-progress',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const verify = (a: string, b: string, extra: string[] = []) =>
      runCli(['verify', '--source', a, '--target', b, '--json', '--round-delay', '100ms', ...extra], {
        timeoutMs: 60_000,
      });
    type J = {
      equal: boolean;
      totals: Record<string, number>;
      dbs: { checked: number; sourceKeys: number; targetKeys: number }[];
    };
    const ok = await verify(src.url, cluster.url);
    expect(ok.code, ok.stderr).toBe(0);
    const j = JSON.parse(ok.stdout) as J;
    expect(j.totals).toEqual({ missing: 0, extra: 0, type: 0, value: 0, ttl: 0 });
    const n = await src.client.dbsize();
    expect(j.dbs.reduce((a, d) => a + d.checked, 0)).toBe(n);
    // Key counts of a cluster side are the whole cluster's, not the seed node's (found by hand: the
    // table showed the seed master's DBSIZE as the cluster's).
    expect(j.dbs[0]!.sourceKeys).toBe(n);
    expect(j.dbs[0]!.targetKeys).toBe(n);
    // The cluster as the source: every master scanned, every master counted.
    const back = await verify(cluster.url, src.url);
    expect(back.code, back.stderr).toBe(0);
    const bj0 = JSON.parse(back.stdout) as J;
    expect(bj0.dbs.reduce((a, d) => a + d.checked, 0)).toBe(n);
    expect(bj0.dbs[0]!.sourceKeys).toBe(n);

    // One changed string and one extra key on the cluster.
    const str: string[] = [];
    for (const k of await src.client.keys('*')) if ((await src.client.type(k)) === 'string') str.push(k);
    const victim = str.sort()[0]!;
    for (const m of await cluster.currentMasters()) await m.client.set(victim, 'changed').catch(() => {});
    for (const m of await cluster.currentMasters()) await m.client.set('extra:{x}', '1').catch(() => {});
    const bad = await verify(src.url, cluster.url);
    expect(bad.code).toBe(1);
    const bj = JSON.parse(bad.stdout) as J;
    expect(bj.totals.value).toBe(1);
    expect(bj.totals.extra).toBe(1);
    const fixed = await verify(src.url, cluster.url, ['--repair', '--delete-extra']);
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(await clusterGet(victim)).toBe(await src.client.get(victim));
    expect(await clusterGet('extra:{x}')).toBeNull();
  }, 90_000);
});

describe.skipIf(!cliBuilt())('cluster target, cross-slot writes', () => {
  it('a cross-slot MULTI stops the run with ERR_CROSS_SLOT by default', async () => {
    const src = await server({ 'repl-diskless-sync-delay': '0' });
    await src.client.set('before', '1');
    expect(await slotOf('tx:a')).not.toBe(await slotOf('tx:b'));
    const port = await freePort();
    const run = startSync([
      '--source',
      src.url,
      '--target',
      cluster.url,
      '--flush-target',
      '--status-port',
      String(port),
    ]);
    await until(async () => (await status(port)).phase === 'stream', 20_000, 'stream phase');
    await until(async () => (await clusterGet('before')) === '1', 10_000, 'snapshot key');
    await src.client.multi().set('tx:a', '1').set('tx:b', '2').exec();
    const out = await run.done;
    expect(out.code).toBe(2);
    const e = parseCliError(out.stderr);
    expect(e?.code, out.stderr.slice(-1500)).toBe('ERR_CROSS_SLOT');
    expect(e?.hint).toMatch(/--cross-slot split/);
    expect(e?.hasStack).toBe(false);
    // Nothing of the group reached the cluster.
    expect(await clusterGet('tx:a')).toBeNull();
    expect(await clusterGet('tx:b')).toBeNull();
  }, 60_000);

  it('--cross-slot split applies it command by command (counted); DEL and MSET across slots are split: 0 diffs', async () => {
    const src = await server({ 'repl-diskless-sync-delay': '0' });
    await src.client.mset('del:1', 'x', 'del:2', 'y', 'del:3', 'z', 'keep', 'k');
    const port = await freePort();
    const run = startSync([
      '--source',
      src.url,
      '--target',
      cluster.url,
      '--flush-target',
      '--cross-slot',
      'split',
      '--status-port',
      String(port),
    ]);
    await until(async () => (await status(port)).phase === 'stream', 20_000, 'stream phase');
    await until(async () => (await clusterGet('keep')) === 'k', 10_000, 'snapshot key');
    await src.client.multi().set('tx:a', '1').incr('tx:n').rpush('tx:list', 'a', 'b').set('tx:b', '2').exec();
    await src.client.del('del:1', 'del:2', 'del:3');
    await src.client.mset('m:1', 'a', 'm:2', 'b', 'm:3', 'c', 'm:4', 'd');
    await src.client.multi().set('{same}:a', '1').set('{same}:b', '2').exec();
    // Two-key commands across slots, applied as their steps.
    await src.client.set('ren:src', 'v', 'PX', 3_600_000);
    await src.client.rename('ren:src', 'ren:dst');
    await src.client.sadd('sm:a', 'x', 'y');
    await src.client.smove('sm:a', 'sm:b', 'x');
    await src.client.rpush('lm:a', '1', '2', '3');
    await src.client.lmove('lm:a', 'lm:b', 'LEFT', 'RIGHT');
    await src.client.rpoplpush('lm:a', 'lm:b');
    await src.client.set('cp:a', 'c', 'PX', 3_600_000);
    await src.client.call('COPY', 'cp:a', 'cp:b');
    let emulated = 0;
    for (const [x, y, n] of [
      ['ren:src', 'ren:dst', 1],
      ['sm:a', 'sm:b', 1],
      ['lm:a', 'lm:b', 2],
      ['cp:a', 'cp:b', 1],
    ] as const)
      if ((await slotOf(x)) !== (await slotOf(y))) emulated += n;
    await src.client.set('last', 'z');
    await until(async () => (await clusterGet('last')) === 'z', 15_000, 'last write');
    const st = await status(port);
    (await run.child).kill('SIGTERM');
    const out = await run.done;
    expect(out.code, out.stderr.slice(-1500)).toBe(0);

    const a = await server();
    const b = await server();
    await copyKeys(src.client, a.client);
    await flattenCluster(cluster, b.client);
    const res = await compareServers(a.client, b.client, {
      ignoreKeys: [HEARTBEAT],
      functions: false,
      dbs: [0],
    });
    expect(res.diffs, JSON.stringify(res.diffs.slice(0, 5))).toEqual([]);
    expect(res.keysCompared).toBeGreaterThanOrEqual(10);
    expect(st.cluster?.crossSlotSplit).toBe(1 + emulated);
    expect(emulated).toBeGreaterThan(0);
    expect(await clusterGet('ren:dst')).toBe('v');
    expect(st.cluster?.splitCommands).toBeGreaterThanOrEqual(2);
  }, 60_000);
});
