/**
 * A restore into a cluster target that must stop: it stops before writing what it must not, and the
 * process exits. Found by hand: the shared corpus's rdb-cli/all.rdb (keys in DBs 0, 1, 2, function
 * libraries) restored into a 3-master cluster without --db-map printed ERR_CLUSTER_DB, then never
 * exited (each master's connection still held an unanswered command when the writer closed); and
 * with `--dbs 1` the DB 1 keys pipelined after the refused SELECT landed in the cluster's DB 0.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cliBuilt, FIXTURES, parseCliError, runCli } from '../helpers/cli.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { startRedis, type TestServer } from '../helpers/server.js';

const ALL = path.join(FIXTURES, 'rdb/rdb-cli/all.rdb');

let src: TestServer;
let cluster: TestCluster;
let rdb: string;

beforeAll(async () => {
  src = await startRedis();
  const p = src.client.pipeline();
  for (let i = 0; i < 300; i++) p.set(`db0:${i}`, `v${i}`);
  await p.exec();
  await src.client.select(1);
  for (let i = 0; i < 6; i++) await src.client.sadd(`db1:set${i}`, 1, 2, 3, `m${i}`);
  for (let i = 0; i < 3; i++) await src.client.set(`db1:s${i}`, `x${i}`);
  await src.client.select(0);
  await src.client.call(
    'FUNCTION',
    'LOAD',
    "#!lua name=t1\nredis.register_function('t1f', function(keys, args) return 1 end)",
  );
  await src.client.save();
  rdb = path.join(src.dir, 'dump.rdb');
  cluster = await startCluster(3);
}, 120_000);

afterAll(async () => {
  await Promise.all([src?.stop(), cluster?.stop()]);
});

beforeEach(async () => {
  for (const m of cluster.masters) await m.client.flushall();
});

/** Every key on the cluster's masters. */
async function clusterKeys(): Promise<string[]> {
  const out: string[] = [];
  for (const m of cluster.masters) out.push(...(await m.client.keys('*')));
  return out.sort();
}

async function stopsAtOnce(args: string[]): Promise<void> {
  const t0 = Date.now();
  const r = await runCli(['restore', ...args, '--target', cluster.url, '--no-progress'], {
    timeoutMs: 60_000,
  });
  const seconds = (Date.now() - t0) / 1000;
  expect(r.signal, `killed after ${seconds} s: the process did not exit\n${r.stderr}`).toBeNull();
  expect(r.code, r.stderr).toBe(2);
  expect(parseCliError(r.stderr)?.code).toBe('ERR_CLUSTER_DB');
  expect(seconds).toBeLessThan(30);
}

describe.skipIf(!cliBuilt())('restore into a cluster: a stop is a stop', () => {
  it('a DB other than 0 without --db-map: exit 2 with ERR_CLUSTER_DB at once, no DB 1 key written', async () => {
    await stopsAtOnce(['--rdb', rdb]);
    expect((await clusterKeys()).filter((k) => k.startsWith('db1:'))).toEqual([]);
  }, 90_000);

  it.skipIf(!existsSync(ALL))(
    'rdb-cli/all.rdb (shared corpus): exits, and no DB 1 key lands in DB 0',
    async () => {
      await stopsAtOnce(['--rdb', ALL]);
      // Only DB 1 selected: nothing at all may reach the cluster.
      for (const m of cluster.masters) await m.client.flushall();
      await stopsAtOnce(['--rdb', ALL, '--dbs', '1']);
      expect(await clusterKeys()).toEqual([]);
    },
    150_000,
  );
});
