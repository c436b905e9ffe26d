/**
 * `replicant verify` against real servers, through the built CLI:
 * - every type (seedAllTypes, copied by a native replica): equal → exit 0; one element changed per
 *   type → exactly those keys reported as value differences;
 * - 1M keys with N injected differences of each kind → exactly N per kind, then --repair (extra left
 *   alone) and --repair --delete-extra (nothing left);
 * - a verify while `replicant sync` runs under write load → no false difference.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliResult, cliBuilt, runCli } from '../helpers/cli.js';
import { runWriteLoad, seedAllTypes } from '../helpers/seed.js';
import { startRedis, type TestServer } from '../helpers/server.js';

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function server(config: Record<string, string> = {}): Promise<TestServer> {
  const s = await startRedis({ 'enable-debug-command': 'yes', ...config });
  servers.push(s);
  return s;
}

/** Copy src into dst with a native replica, then detach it (an exact copy to start from). */
async function nativeCopy(src: TestServer, dst: TestServer): Promise<void> {
  await dst.client.replicaof('127.0.0.1', src.port);
  for (;;) {
    const info = await dst.client.info('replication');
    if (/master_link_status:up/.test(info) && /master_sync_in_progress:0/.test(info)) {
      const so = Number(/master_repl_offset:(\d+)/.exec(await src.client.info('replication'))![1]);
      const ro = Number(/slave_repl_offset:(\d+)/.exec(info)![1]);
      if (ro >= so) break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await dst.client.replicaof('NO', 'ONE');
}

interface VerifyJson {
  equal: boolean;
  totals: Record<string, number>;
  rounds: number[];
  inFlight: number;
  report: string | null;
  repair: null | { fixed: number; deleted: number; leftExtra: number; remaining: number };
  dbs: { db: number; checked: number; diffs: Record<string, number> }[];
}

async function verify(
  src: TestServer,
  dst: TestServer,
  extra: string[] = [],
): Promise<{ r: CliResult; j: VerifyJson }> {
  const report = path.join(os.tmpdir(), `replicant-verify-test-${process.pid}-${Date.now()}.jsonl`);
  const r = await runCli(
    [
      'verify',
      '--source',
      src.url,
      '--target',
      dst.url,
      '--json',
      '--report',
      report,
      ...(extra.includes('--round-delay') ? [] : ['--round-delay', '200ms']),
      ...extra,
    ],
    { timeoutMs: 300_000 },
  );
  if (r.code === 2) throw new Error(`verify failed: ${r.stderr}`);
  const j = JSON.parse(r.stdout) as VerifyJson;
  // Kept for reportLines() when there are differences; an equal run leaves nothing behind.
  if (j.equal) rmSync(report, { force: true });
  return { r, j };
}

function reportLines(file: string): { key?: string; kind: string; type: string; db: number }[] {
  const text = readFileSync(file, 'utf8');
  rmSync(file, { force: true });
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

describe.skipIf(!cliBuilt())('replicant verify', () => {
  it('every type: equal copies pass; one changed element per type is found, type by type', async () => {
    const src = await server();
    const dst = await server();
    await seedAllTypes(src.client, { dbs: [0, 1] });
    await nativeCopy(src, dst);
    const ok = await verify(src, dst);
    expect(ok.j.totals).toEqual({ missing: 0, extra: 0, type: 0, value: 0, ttl: 0 });
    expect(ok.r.code).toBe(0);
    expect(ok.j.dbs.reduce((a, d) => a + d.checked, 0)).toBeGreaterThan(10);

    // One small change per type, on the target only.
    const t = dst.client;
    const keysBy = async (type: string): Promise<string[]> => {
      const out: string[] = [];
      for (const k of await t.keys('*')) if ((await t.type(k)) === type) out.push(k);
      return out.sort();
    };
    const changed: string[] = [];
    const str = (await keysBy('string'))[0]!;
    await t.append(str, 'x');
    changed.push(str);
    const list = (await keysBy('list'))[0]!;
    await t.lset(list, 0, 'changed');
    changed.push(list);
    const set = (await keysBy('set'))[0]!;
    await t.srem(set, (await t.srandmember(set))!);
    await t.sadd(set, 'not-in-source');
    changed.push(set);
    const zset = (await keysBy('zset'))[0]!;
    const [member] = await t.zrange(zset, 0, 0);
    await t.zincrby(zset, 0.5, member!);
    changed.push(zset);
    const hash = (await keysBy('hash'))[0]!;
    const [field] = await t.hkeys(hash);
    await t.hset(hash, field!, 'changed');
    changed.push(hash);
    const stream = (await keysBy('stream'))[0]!;
    await t.xadd(stream, '*', 'f', 'v');
    changed.push(stream);

    const bad = await verify(src, dst, ['--rounds', '2']);
    expect(bad.r.code).toBe(1);
    expect(bad.j.totals).toEqual({ missing: 0, extra: 0, type: 0, value: changed.length, ttl: 0 });
    const lines = reportLines(bad.j.report!);
    expect(lines.map((l) => l.key).sort()).toEqual([...changed].sort());
    expect(new Set(lines.map((l) => l.type))).toEqual(
      new Set(['string', 'list', 'set', 'zset', 'hash', 'stream']),
    );
  });

  it("replicant's own keys are not differences: heartbeats on the source, the checkpoint key on the target", async () => {
    const src = await server();
    const dst = await server();
    await seedAllTypes(src.client, { dbs: [0] });
    await nativeCopy(src, dst);
    await src.client.set('DTS_REDIS_TIMESTAMP_HEARTBEAT', '1');
    await src.client.set('DTS_REDIS_TIMESTAMP_HEARTBEAT{hb2}', '1'); // a cluster source's shard heartbeat
    await dst.client.set('replicant:checkpoint', '{}');
    await dst.client.set('DTS_REDIS_TIMESTAMP_HEARTBEAT{hb2}x', '1'); // not one of ours: an extra key
    const seen = await verify(src, dst, ['--rounds', '1']);
    expect(seen.j.totals).toEqual({ missing: 0, extra: 1, type: 0, value: 0, ttl: 0 });
    rmSync(seen.j.report!, { force: true });
    const r = await verify(src, dst, ['--repair', '--delete-extra', '--rounds', '1']);
    expect(r.j.repair).toMatchObject({ deleted: 1 });
    expect(await dst.client.exists('replicant:checkpoint')).toBe(1); // never deleted by --delete-extra
    expect(await dst.client.exists('DTS_REDIS_TIMESTAMP_HEARTBEAT{hb2}x')).toBe(0);
  });

  it('1M keys, N injected differences of each kind: exactly N each; --repair fixes all but extra; --delete-extra the rest', async () => {
    const src = await server();
    const dst = await server();
    await src.client.call('DEBUG', 'POPULATE', '1000000', 'k', '16');
    await nativeCopy(src, dst);
    const N = 7;
    const t = dst.client;
    const m = t.pipeline();
    for (let i = 0; i < N; i++) {
      m.del(`k:${100 + i}`); // missing
      m.set(`extra:${i}`, 'x'); // extra
      m.del(`k:${200 + i}`).sadd(`k:${200 + i}`, 'a'); // type
      m.set(`k:${300 + i}`, 'different'); // value
      m.pexpire(`k:${400 + i}`, 3_600_000); // ttl
    }
    await m.exec();

    const found = await verify(src, dst, ['--rounds', '2']);
    expect(found.r.code).toBe(1);
    expect(found.j.totals).toEqual({ missing: N, extra: N, type: N, value: N, ttl: N });
    expect(found.j.dbs[0]!.checked).toBe(1_000_000);
    const lines = reportLines(found.j.report!);
    expect(lines.length).toBe(5 * N);
    expect(
      lines
        .filter((l) => l.kind === 'missing')
        .map((l) => l.key)
        .sort(),
    ).toEqual(Array.from({ length: N }, (_, i) => `k:${100 + i}`).sort());

    const repaired = await verify(src, dst, ['--rounds', '1', '--repair']);
    expect(repaired.j.repair).toMatchObject({ fixed: 4 * N, leftExtra: N, remaining: 0 });
    expect(repaired.j.totals).toEqual({ missing: 0, extra: N, type: 0, value: 0, ttl: 0 });
    expect(repaired.r.code).toBe(1);
    reportLines(repaired.j.report!);
    expect(await t.get('k:300')).toBe(await src.client.get('k:300'));
    expect(await t.pttl('k:400')).toBe(-1);

    const clean = await verify(src, dst, ['--rounds', '1', '--repair', '--delete-extra']);
    expect(clean.j.repair).toMatchObject({ deleted: N, remaining: 0 });
    expect(clean.r.code).toBe(0);
    expect(await t.exists('extra:0')).toBe(0);
    if (clean.j.report) rmSync(clean.j.report, { force: true });
  }, 300_000); // four full verify passes over 1M keys: 120 s was the edge on a loaded 2-core machine (old code too)

  it('during a live sync under write load: no false differences', async () => {
    const src = await server();
    const dst = await server();
    await seedAllTypes(src.client, { dbs: [0, 1] });
    let child: ChildProcess | null = null;
    const sync = runCli(['--source', src.url, '--target', dst.url, '--no-progress'], {
      onSpawn: (c) => {
        child = c;
      },
      timeoutMs: 240_000,
    });
    const stop = new AbortController();
    // Wait for the stream phase (the target holds the snapshot), then keep writing while verifying.
    for (let i = 0; i < 200 && (await dst.client.dbsize()) < (await src.client.dbsize()) - 5; i++)
      await new Promise((r) => setTimeout(r, 100));
    const load = runWriteLoad(src.client, {
      ops: 1e9,
      signal: stop.signal,
      dbs: [0, 1],
      keyspace: 3000,
      batch: 20,
    });
    try {
      const v = await verify(src, dst, ['--rounds', '4', '--round-delay', '1s', '--ttl-tolerance', '3s']);
      const opsDuring = (await Promise.race([load, Promise.resolve(null)])) === null;
      console.log(`verify during sync: rounds ${v.j.rounds.join(',')}, in flight ${v.j.inFlight}`);
      expect(v.j.totals).toEqual({ missing: 0, extra: 0, type: 0, value: 0, ttl: 0 });
      expect(v.r.code).toBe(0);
      expect(v.j.dbs.reduce((a, d) => a + d.checked, 0)).toBeGreaterThan(1000);
      expect(opsDuring).toBe(true); // the load was still running when verify finished
    } finally {
      stop.abort();
      const done = await load;
      expect(done.ops).toBeGreaterThan(2000);
      (child as ChildProcess | null)?.kill('SIGTERM');
      await sync;
    }
  });
});
