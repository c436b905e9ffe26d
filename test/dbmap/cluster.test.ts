/**
 * Merged DBs into a cluster target (issue #13 point 5): a cluster has only DB 0, so DBs 0 and 1 map
 * into it together (--db-map 1:0 --allow-db-merge). A FLUSHDB of source DB 1 used to reach every
 * master as FLUSHDB and empty all of them, DB 0's keys included; now it stops the run
 * (ERR_DB_MERGE_FLUSH) and every key stays. With only DB 1 mapped there, FLUSHALL empties the cluster
 * (that is the source's effect on the migrated data) and the run goes on.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, cliBuilt, parseCliError, runCli } from '../helpers/cli.js';
import { startCluster, type TestCluster, until } from '../helpers/cluster.js';
import { startRedis, type TestServer } from '../helpers/server.js';

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

/** Every key on the cluster's masters (names only; DB 0). */
async function clusterKeys(): Promise<string[]> {
  const out: string[] = [];
  for (const m of await cluster.currentMasters()) out.push(...(await m.client.keys('*')));
  return out.filter((k) => k !== 'DTS_REDIS_TIMESTAMP_HEARTBEAT').sort();
}

async function flushCluster(): Promise<void> {
  for (const m of await cluster.currentMasters()) await m.client.flushall();
}

const KEYS0 = ['a0', 'b0', 'c0', 'd0', 'e0', 'f0'];
const KEYS1 = ['a1', 'b1', 'c1', 'd1', 'e1', 'f1'];

describe.skipIf(!cliBuilt())('merged DBs into a cluster target', () => {
  it('FLUSHDB of source DB 1 (merged into DB 0): the run stops, no key on any master lost', async () => {
    await flushCluster();
    const src = await server({ 'repl-diskless-sync-delay': '0' });
    for (const k of KEYS0) await src.client.set(k, 'zero');
    const c1 = src.client.duplicate({ db: 1 });
    for (const k of KEYS1) await c1.set(k, 'one');
    const run = startSync([
      '--source',
      src.url,
      '--target',
      cluster.url,
      '--db-map',
      '1:0',
      '--allow-db-merge',
    ]);
    await until(async () => (await clusterKeys()).length === 12, 30_000, 'the snapshot');
    await c1.flushdb();
    c1.disconnect();
    const r = await run.done;
    expect(r.code, r.stderr).toBe(2);
    expect(parseCliError(r.stderr)?.code, r.stderr).toBe('ERR_DB_MERGE_FLUSH');
    expect(await clusterKeys()).toEqual([...KEYS0, ...KEYS1].sort());
  }, 120_000);

  it('--dbs 1 --db-map 1:0: FLUSHALL empties the cluster, later writes arrive', async () => {
    await flushCluster();
    const src = await server({ 'repl-diskless-sync-delay': '0' });
    const c1 = src.client.duplicate({ db: 1 });
    for (const k of KEYS1) await c1.set(k, 'one');
    const run = startSync(['--source', src.url, '--target', cluster.url, '--dbs', '1', '--db-map', '1:0']);
    await until(async () => (await clusterKeys()).length === 6, 30_000, 'the snapshot');
    await src.client.flushall();
    await c1.set('after', 'x');
    c1.disconnect();
    await until(
      async () => (await clusterKeys()).join() === 'after',
      30_000,
      'FLUSHALL and the write after it',
    );
    (await run.child).kill('SIGINT');
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
  }, 120_000);
});
