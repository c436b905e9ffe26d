/**
 * Issue #13 into a cluster target: a 7.4 standalone source, a 3-master 7.0 cluster target. The
 * stream-phase RESTOREs (7.4 payloads, which 7.0 refuses) are rewritten as MULTI groups on the key's
 * slot, the scripts (ZADD GT/LT … none needed on 7.0, but XADD LIMIT and PEXPIREAT … NX are) routed
 * by key. Every key shares one hash tag so the multi-key commands of the load are legal on a cluster.
 * Then the cluster, flattened, equals the source.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, cliBuilt, runCli } from '../helpers/cli.js';
import { copyKeys, flattenCluster, startCluster, type TestCluster } from '../helpers/cluster.js';
import { compareServers, type Diff } from '../helpers/compare.js';
import { startRedis, type TestServer } from '../helpers/server.js';
import { serverBuilds, versionNum } from '../helpers/versions.js';
import { crossVersionStreamLoad } from '../matrix/xver-load.js';

const HEARTBEAT = 'DTS_REDIS_TIMESTAMP_HEARTBEAT';
const r74 = serverBuilds().find((b) => b.name === 'redis-7.4');

describe.skipIf(!cliBuilt() || !r74)('stream phase across versions into a cluster target (issue #13)', () => {
  let cluster: TestCluster;
  const servers: TestServer[] = [];
  beforeAll(async () => {
    cluster = await startCluster(3);
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });

  async function compare(src: TestServer): Promise<Diff[]> {
    // 7.4 scratch servers: they load the source's payloads and the 7.0 cluster's.
    const a = await startRedis({}, { binary: r74!.path });
    const b = await startRedis({}, { binary: r74!.path });
    try {
      await copyKeys(src.client, a.client);
      await flattenCluster(cluster, b.client);
      const r = await compareServers(a.client, b.client, {
        ignoreKeys: [HEARTBEAT],
        ignoreEntriesRead: true,
      });
      return r.diffs;
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  }

  it('redis-7.4 → 7.0 cluster: RESTORE of newer payloads and newer options', async () => {
    const src = await startRedis({ 'repl-diskless-sync-delay': '0' }, { binary: r74!.path });
    servers.push(src);
    await src.client.set('{xv}:before', 'snapshot');
    let child: ChildProcess | null = null;
    let exited = false;
    const done: Promise<CliResult> = runCli(['--source', src.url, '--target', cluster.url, '--no-progress'], {
      onSpawn: (c) => {
        child = c;
      },
      timeoutMs: 150_000,
    }).then((r) => {
      exited = true;
      return r;
    });
    let r: CliResult | null = null;
    try {
      const seen = async () => {
        // The node that owns the slot answers; the others say MOVED.
        const found = await Promise.all(
          cluster.masters.map((m) => m.client.exists('{xv}:before').catch(() => 0)),
        );
        return found.includes(1);
      };
      const deadline = Date.now() + 30_000;
      while (!(await seen())) {
        if (Date.now() > deadline || exited)
          throw new Error(`snapshot did not arrive: ${(await done).stderr}`);
        await new Promise((res) => setTimeout(res, 100));
      }
      await crossVersionStreamLoad(src.client, versionNum(r74!.version), 'redis', '{xv}:');
      let diffs: Diff[] = [];
      const until = Date.now() + 40_000;
      do {
        await new Promise((res) => setTimeout(res, 500));
        diffs = await compare(src);
      } while (diffs.length > 0 && Date.now() < until && !exited);
      (child as ChildProcess | null)?.kill('SIGTERM');
      r = await done;
      expect(diffs, `${JSON.stringify(diffs.slice(0, 8))}\n${r.stderr.slice(-3000)}`).toEqual([]);
      expect(r.code, r.stderr.slice(-2000)).toBe(0);
    } finally {
      (child as ChildProcess | null)?.kill('SIGKILL');
      if (!r) await done;
    }
  }, 180_000);
});
