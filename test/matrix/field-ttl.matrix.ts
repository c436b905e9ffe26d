/**
 * Hash field TTLs (Redis 7.4+) through a live sync, on real 7.4 servers: fields with their own TTL in
 * the snapshot and set in the stream phase (HPEXPIRE, HPEXPIREAT, HPERSIST), into a 7.4 target (every
 * field's absolute expiry equal to the source's, to the millisecond) and into an older target, where
 * the default stops before writing and `--hash-field-ttl strip` keeps the fields without their TTLs.
 * The same choice holds from a cluster source (its own code path, one link per shard).
 *
 * Builds come from scripts/fetch-servers.mjs (`npm run test:matrix` runs it first).
 */
import type { ChildProcess } from 'node:child_process';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliResult, cliBuilt, parseCliError, runCli } from '../helpers/cli.js';
import { compareServers } from '../helpers/compare.js';
import { startCluster } from '../helpers/cluster.js';
import { startRedis, type TestServer } from '../helpers/server.js';
import { type ServerBuild, serverBuilds } from '../helpers/versions.js';

const HEARTBEAT = 'DTS_REDIS_TIMESTAMP_HEARTBEAT';
const builds = serverBuilds();
const build = (name: string) => builds.find((b) => b.name === name);
const src74 = build('redis-7.4');
const older = build('redis-7.2') ?? build('redis-7.0');
if (!src74) console.log('hash field TTL matrix skipped: no redis-7.4 build (see fetch-servers output)');

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});
async function start(b: ServerBuild): Promise<TestServer> {
  const s = await startRedis({ 'repl-diskless-sync-delay': '0' }, { binary: b.path });
  servers.push(s);
  return s;
}

const FIELDS = ['a', 'b', 'c', 'd', 'e'];
const T0 = Date.now() + 3_600_000;

/** Snapshot-phase hashes: some fields with a TTL, one hash with a key TTL as well. */
async function seed(c: Redis): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const k = `fh:${i}`;
    await c.hset(k, Object.fromEntries(FIELDS.map((f) => [f, `${f}${i}`])));
    await c.call('HPEXPIREAT', k, String(T0 + i * 1000), 'FIELDS', '2', 'a', 'b');
    if (i % 5 === 0) await c.pexpireat(k, T0 + 7_200_000);
  }
  await c.set('plain', 'v');
}

/** Stream-phase field TTL changes, relative and absolute, and a removal. */
async function streamPhase(c: Redis): Promise<void> {
  for (let i = 0; i < 50; i += 2) {
    const k = `fh:${i}`;
    await c.call('HPEXPIRE', k, '5400000', 'FIELDS', '1', 'c');
    await c.call('HPEXPIREAT', k, String(T0 + 42), 'FIELDS', '1', 'd');
    await c.call('HPERSIST', k, 'FIELDS', '1', 'a');
  }
  await c.hset('fh:new', { x: '1', y: '2' });
  await c.call('HPEXPIRE', 'fh:new', '600000', 'FIELDS', '1', 'x');
}

/** Every field's absolute expiry (-1: none), per hash. */
async function fieldExpiries(c: Redis): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const k of (await c.keys('fh:*')).sort()) {
    const fields = (await c.hkeys(k)).sort();
    out[k] = (await c.call('HPEXPIRETIME', k, 'FIELDS', String(fields.length), ...fields)) as number[];
  }
  return out;
}

async function waitEqual(src: TestServer, dst: TestServer, withFieldTtls: boolean): Promise<string> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await compareServers(src.client, dst.client, { ignoreKeys: [HEARTBEAT] });
    let why = r.diffs.length > 0 ? JSON.stringify(r.diffs.slice(0, 3)) : '';
    if (!why && withFieldTtls) {
      const [a, b] = await Promise.all([fieldExpiries(src.client), fieldExpiries(dst.client)]);
      if (JSON.stringify(a) !== JSON.stringify(b)) why = `field expiries differ: ${JSON.stringify([a, b])}`;
    }
    if (!why || Date.now() > deadline) return why;
    await new Promise((res) => setTimeout(res, 200));
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

describe.skipIf(!cliBuilt() || !src74)('hash field TTLs through a live sync', () => {
  it('7.4 → 7.4: every field TTL arrives, snapshot and stream phase, to the millisecond', async () => {
    const src = await start(src74!);
    const dst = await start(src74!);
    await seed(src.client);
    const run = sync(['--source', src.url, '--target', dst.url]);
    try {
      expect(await waitEqual(src, dst, true)).toBe('');
      await streamPhase(src.client);
      expect(await waitEqual(src, dst, true)).toBe('');
      // The checks above can fail: field TTLs really are on the target.
      const e = await fieldExpiries(dst.client);
      expect(e['fh:1']).toEqual([T0 + 1000, T0 + 1000, -1, -1, -1]);
      expect(e['fh:2']![0]).toBe(-1); // HPERSIST a
      expect(e['fh:2']![3]).toBe(T0 + 42); // HPEXPIREAT d
    } finally {
      run.child()?.kill('SIGTERM');
    }
    const r = await run.done;
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
  });

  it.skipIf(!older)(
    '7.4 → older: stops before writing by default; --hash-field-ttl strip keeps the fields',
    async () => {
      const src = await start(src74!);
      const dst = await start(older!);
      await seed(src.client);
      const base = ['--source', src.url, '--target', dst.url];
      const refused = await runCli([...base, '--no-progress'], { timeoutMs: 60_000 });
      expect(refused.code).toBe(2);
      const e = parseCliError(refused.stderr)!;
      expect(e.hint).toMatch(/--hash-field-ttl strip/);
      expect(await dst.client.dbsize()).toBe(0);

      const run = sync([...base, '--hash-field-ttl', 'strip']);
      try {
        expect(await waitEqual(src, dst, false)).toBe('');
        await streamPhase(src.client);
        expect(await waitEqual(src, dst, false)).toBe('');
        expect(await dst.client.pttl('fh:0')).toBeGreaterThan(0); // the key's own TTL stays
      } finally {
        run.child()?.kill('SIGTERM');
      }
      const r = await run.done;
      expect(r.code, r.stderr.slice(-2000)).toBe(0);
    },
  );

  it.skipIf(!older)(
    '7.4 → older, --hash-field-ttl skip-key: those hashes stay off the target in the stream phase too (no partial hash)',
    async () => {
      const src = await start(src74!);
      const dst = await start(older!);
      await seed(src.client);
      const run = sync(['--source', src.url, '--target', dst.url, '--hash-field-ttl', 'skip-key']);
      const skipped = new Set(Array.from({ length: 50 }, (_, i) => `fh:${i}`));
      const equalBesidesSkipped = async () => {
        const deadline = Date.now() + 30_000;
        for (;;) {
          const r = await compareServers(src.client, dst.client, { ignoreKeys: [HEARTBEAT, ...skipped] });
          if (r.diffs.length === 0 || Date.now() > deadline) return r.diffs;
          await new Promise((res) => setTimeout(res, 200));
        }
      };
      try {
        expect(await equalBesidesSkipped()).toEqual([]);
        expect(await dst.client.get('plain')).toBe('v');
        expect(await dst.client.keys('fh:*')).toEqual([]);
        // Stream phase: writes to skipped hashes, a rename of one, and keys that become ordinary again.
        for (let i = 0; i < 50; i += 2) {
          await src.client.call('HPEXPIRE', `fh:${i}`, '5400000', 'FIELDS', '1', 'c');
          await src.client.call('HPERSIST', `fh:${i}`, 'FIELDS', '1', 'a');
        }
        await src.client.hset('fh:1', 'late', 'x');
        await src.client.rename('fh:3', 'moved:3');
        await src.client.del('fh:4');
        await src.client.hset('fh:4', 'fresh', '1'); // a new hash without field TTLs: copied from here
        await src.client.set('fh:5', 'now a string');
        await src.client.hset('nh', 'f', 'v');
        skipped.add('moved:3');
        skipped.delete('fh:3');
        skipped.delete('fh:4');
        skipped.delete('fh:5');
        await src.client.set('marker', 'done');
        const deadline = Date.now() + 30_000;
        while ((await dst.client.get('marker')) !== 'done' && Date.now() < deadline)
          await new Promise((res) => setTimeout(res, 100));
        expect(await equalBesidesSkipped()).toEqual([]);
        expect(await dst.client.hgetall('fh:4')).toEqual({ fresh: '1' });
        expect(await dst.client.get('fh:5')).toBe('now a string');
        // No partial hash: none of the skipped keys exists on the target.
        for (const k of ['fh:1', 'fh:2', 'moved:3', 'fh:6']) expect(await dst.client.exists(k), k).toBe(0);
      } finally {
        run.child()?.kill('SIGTERM');
      }
      const r = await run.done;
      expect(r.code, r.stderr.slice(-2000)).toBe(0);
      expect(r.stderr).toMatch(/skipped: hash-field-ttl\s+50\b/);
      expect(r.stderr).toMatch(/skipped: hash-field-ttl: stream writes\s+\d+/);
    },
  );
  it.skipIf(!older)(
    '7.4 cluster source → older standalone, --hash-field-ttl strip: the stream phase strips too',
    async () => {
      // One master holds every slot, so a plain client can write any key; the run still goes through
      // the cluster-source path (CLUSTER SHARDS, a link per shard, the shard's heartbeat key).
      const cluster = await startCluster(1, {
        binary: src74!.path,
        config: { 'repl-diskless-sync-delay': '0' },
      });
      const dst = await start(older!);
      const src = cluster.masters[0]!;
      try {
        await seed(src.client);
        const run = sync(['--source', cluster.url, '--target', dst.url, '--hash-field-ttl', 'strip']);
        try {
          const equal = async () => {
            const deadline = Date.now() + 30_000;
            for (;;) {
              const r = await compareServers(src.client, dst.client, { ignoreKeys: [`${HEARTBEAT}{hb0}`] });
              if (r.diffs.length === 0 || Date.now() > deadline) return r.diffs;
              await new Promise((res) => setTimeout(res, 200));
            }
          };
          expect(await equal()).toEqual([]);
          await streamPhase(src.client);
          await src.client.set('marker', 'done');
          const deadline = Date.now() + 30_000;
          while ((await dst.client.get('marker')) !== 'done' && Date.now() < deadline)
            await new Promise((res) => setTimeout(res, 100));
          expect(await equal()).toEqual([]);
          expect(await dst.client.hgetall('fh:new')).toEqual({ x: '1', y: '2' });
        } finally {
          run.child()?.kill('SIGTERM');
        }
        const r = await run.done;
        expect(r.code, r.stderr.slice(-2000)).toBe(0);
      } finally {
        await cluster.stop();
      }
    },
  );
});
