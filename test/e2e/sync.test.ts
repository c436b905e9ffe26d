/**
 * The live sync end to end, through the built CLI against real redis-server processes:
 * every type and encoding in DBs 0/1/5/15 plus a function library, a write load running during the
 * snapshot and after it, then target == source key by key (type, value, TTL within 1 s), the heartbeat
 * key absent from the target. Once with a diskless source, once with a disk-based one.
 */
import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliResult, cliBuilt, runCli } from '../helpers/cli.js';
import { compareServers, type Diff } from '../helpers/compare.js';
import { runWriteLoad, seedAllTypes } from '../helpers/seed.js';
import { startRedis, type TestServer } from '../helpers/server.js';

const HEARTBEAT = 'DTS_REDIS_TIMESTAMP_HEARTBEAT';
const servers: TestServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function server(config: Record<string, string> = {}): Promise<TestServer> {
  const s = await startRedis(config);
  servers.push(s);
  return s;
}

/** Start `replicant` (live sync) in the background; resolves once the child is spawned. */
function startSync(args: string[]): { child: Promise<ChildProcess>; done: Promise<CliResult> } {
  let resolveChild!: (c: ChildProcess) => void;
  const child = new Promise<ChildProcess>((r) => {
    resolveChild = r;
  });
  const done = runCli([...args, '--no-progress'], { onSpawn: resolveChild, timeoutMs: 180_000 });
  return { child, done };
}

/** Poll until the target equals the source (or the deadline passes); returns the last diffs. */
async function waitEqual(
  src: TestServer,
  dst: TestServer,
  opts: Parameters<typeof compareServers>[2] = {},
  timeoutMs = 30_000,
): Promise<{ diffs: Diff[]; keysCompared: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // entries-read: Redis 7.0 replicates XREADGROUP as XCLAIM … LASTID, which does not carry it; a native
    // replica diverges the same way (README, Guarantees and limits).
    const res = await compareServers(src.client, dst.client, {
      ignoreKeys: [HEARTBEAT],
      ignoreEntriesRead: true,
      ...opts,
    });
    if (res.diffs.length === 0 || Date.now() > deadline) return res;
    await new Promise((r) => setTimeout(r, 300));
  }
}

describe.skipIf(!cliBuilt())('live sync (replica mode), standalone → standalone', () => {
  for (const diskless of ['yes', 'no']) {
    it(`copies every type and follows a write load (repl-diskless-sync ${diskless})`, async () => {
      const src = await server({ 'repl-diskless-sync': diskless, 'repl-diskless-sync-delay': '0' });
      const dst = await server();
      await seedAllTypes(src.client, { dbs: [0, 1, 5, 15], functions: true });
      // Bulk so the snapshot takes a moment and the load overlaps it.
      const pipe = src.client.pipeline();
      for (let i = 0; i < 50_000; i++) pipe.set(`bulk:${i}`, `value-${i}`);
      await pipe.exec();

      const ac = new AbortController();
      const during = runWriteLoad(src.client, { ops: 1_000_000, signal: ac.signal, dbs: [0, 1, 5], seed: 7 });
      const run = startSync(['--source', src.url, '--target', dst.url]);
      await new Promise((r) => setTimeout(r, 3000));
      ac.abort();
      const load = await during;
      // And a second load entirely in the stream phase.
      const after = await runWriteLoad(src.client, { ops: 3000, dbs: [0, 15], seed: 11 });
      expect(load.ops + after.ops).toBeGreaterThan(1000);

      const res = await waitEqual(src, dst);
      const child = await run.child;
      child.kill('SIGTERM');
      const out = await run.done;
      expect(res.diffs, JSON.stringify(res.diffs.slice(0, 5))).toEqual([]);
      expect(res.keysCompared).toBeGreaterThan(50_000);
      expect(await dst.client.exists(HEARTBEAT)).toBe(0);
      expect(out.code, out.stderr).toBe(0);
    });
  }

  it('refuses a non-empty target by default, naming keys and the flag; overwrite and skip work', async () => {
    const src = await server({ 'repl-diskless-sync-delay': '0' });
    const dst = await server();
    await src.client.set('shared', 'from-source');
    await src.client.set('only-src', 'x');
    await dst.client.set('shared', 'from-target');

    const refused = await runCli(['--source', src.url, '--target', dst.url, '--no-progress'], {
      timeoutMs: 30_000,
    });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/shared/);
    expect(refused.stderr).toMatch(/--on-conflict/);
    expect(await dst.client.get('shared')).toBe('from-target');

    // skip: the target's key is kept during the snapshot.
    let run = startSync(['--source', src.url, '--target', dst.url, '--on-conflict', 'skip']);
    await waitFor(async () => (await dst.client.get('only-src')) === 'x');
    (await run.child).kill('SIGTERM');
    expect((await run.done).code).toBe(0);
    expect(await dst.client.get('shared')).toBe('from-target');

    // overwrite: the source's value replaces it.
    run = startSync(['--source', src.url, '--target', dst.url, '--on-conflict', 'overwrite']);
    await waitFor(async () => (await dst.client.get('shared')) === 'from-source');
    (await run.child).kill('SIGTERM');
    expect((await run.done).code).toBe(0);
  });

  it('--dbs selects and --db-map maps source DBs, in the snapshot and in the stream', async () => {
    const src = await server({ 'repl-diskless-sync-delay': '0' });
    const dst = await server();
    for (const db of [0, 3, 4]) {
      await src.client.select(db);
      await src.client.set(`k${db}`, `v${db}`);
    }
    await src.client.select(0);
    const run = startSync(['--source', src.url, '--target', dst.url, '--dbs', '3,4', '--db-map', '3:0']);
    await waitFor(async () => {
      await dst.client.select(0);
      return (await dst.client.get('k3')) === 'v3';
    });
    // Stream phase writes follow the same mapping.
    await src.client.select(3);
    await src.client.set('stream3', 's3');
    await src.client.select(0);
    await src.client.set('stream0', 'dropped');
    await waitFor(async () => {
      await dst.client.select(0);
      return (await dst.client.get('stream3')) === 's3';
    });
    (await run.child).kill('SIGTERM');
    expect((await run.done).code).toBe(0);
    await dst.client.select(0);
    expect(await dst.client.get('k0')).toBeNull();
    expect(await dst.client.get('stream0')).toBeNull();
    await dst.client.select(4);
    expect(await dst.client.get('k4')).toBe('v4');
    await dst.client.select(3);
    expect(await dst.client.dbsize()).toBe(0);
    await dst.client.select(0);
  });

  it('SIGTERM mid-stream under load exits 0, and a restart ends with target == source', async () => {
    const src = await server({ 'repl-diskless-sync-delay': '0' });
    const dst = await server();
    await seedAllTypes(src.client, { dbs: [0, 2] });
    const ac = new AbortController();
    const load = runWriteLoad(src.client, { ops: 10_000_000, signal: ac.signal, dbs: [0, 2], seed: 3 });
    let run = startSync(['--source', src.url, '--target', dst.url]);
    await new Promise((r) => setTimeout(r, 2500));
    (await run.child).kill('SIGTERM');
    const first = await run.done;
    expect(first.code, first.stderr).toBe(0);
    // Restart while the load continues: a full sync until resume lands. --flush-target, not overwrite:
    // a key deleted on the source meanwhile and recreated later would otherwise merge with its stale copy.
    run = startSync(['--source', src.url, '--target', dst.url, '--flush-target']);
    await new Promise((r) => setTimeout(r, 2000));
    ac.abort();
    await load;
    const res = await waitEqual(src, dst);
    (await run.child).kill('SIGTERM');
    expect((await run.done).code).toBe(0);
    expect(res.diffs, JSON.stringify(res.diffs.slice(0, 5))).toEqual([]);
  });
});

describe.skipIf(!cliBuilt())('--flush-target', () => {
  it('empties only the target DBs this run writes to, then copies', async () => {
    const src = await server({ 'repl-diskless-sync-delay': '0' });
    const dst = await server();
    await src.client.rpush('list', 'a', 'b');
    await dst.client.rpush('list', 'stale-1', 'stale-2', 'stale-3');
    await dst.client.set('stale-key', 'left over from an earlier run');
    await dst.client.select(9);
    await dst.client.set('other-app', 'not ours');
    await dst.client.select(0);
    const run = startSync(['--source', src.url, '--target', dst.url, '--dbs', '0', '--flush-target']);
    await waitFor(async () => (await dst.client.llen('list')) === 2);
    await src.client.rpush('list', 'c');
    await waitFor(async () => (await dst.client.llen('list')) === 3);
    (await run.child).kill('SIGTERM');
    const out = await run.done;
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr).toMatch(/flush-target: emptied target DB.*db=0.*keys=2/);
    expect(await dst.client.lrange('list', 0, -1)).toEqual(['a', 'b', 'c']);
    expect(await dst.client.exists('stale-key')).toBe(0);
    await dst.client.select(9);
    expect(await dst.client.get('other-app')).toBe('not ours');
    await dst.client.select(0);
  });
});

describe.skipIf(!cliBuilt())('live sync: the errors users meet first', () => {
  it('wrong source password → one line, a hint, exit 2', async () => {
    const src = await server({ requirepass: 'right' });
    const dst = await server();
    const r = await runCli(['--source', `redis://:wrong@127.0.0.1:${src.port}`, '--target', dst.url], {
      timeoutMs: 30_000,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error \[ERR_SOURCE_AUTH\]/m);
    expect(r.stderr).toMatch(/^hint: /m);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it('unreachable source → exit 2 naming the endpoint', async () => {
    const dst = await server();
    const r = await runCli(['--source', 'redis://127.0.0.1:1', '--target', dst.url], { timeoutMs: 30_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error \[ERR_SOURCE_CONNECT\].*127\.0\.0\.1:1/m);
    expect(r.stderr).toMatch(/^hint: /m);
  });

  it('an ACL user without +psync/+sync → exit 2 with the ACL rule to add', async () => {
    const src = await server();
    const dst = await server();
    await src.client.call('ACL', 'SETUSER', 'mig', 'on', '>pw', '~*', '+@all', '-psync', '-sync');
    const r = await runCli(['--source', `redis://mig:pw@127.0.0.1:${src.port}`, '--target', dst.url], {
      timeoutMs: 30_000,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error \[ERR_SOURCE_NOPERM\]/m);
    expect(r.stderr).toMatch(/psync/i);
  });

  it('a target that refuses writes (OOM) → exit 2 naming the problem', async () => {
    const src = await server({ 'repl-diskless-sync-delay': '0' });
    const dst = await server({ maxmemory: '2mb', 'maxmemory-policy': 'noeviction' });
    const pipe = src.client.pipeline();
    for (let i = 0; i < 5000; i++) pipe.set(`big:${i}`, 'x'.repeat(1000));
    await pipe.exec();
    const r = await runCli(['--source', src.url, '--target', dst.url, '--no-progress'], {
      timeoutMs: 60_000,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/OOM|maxmemory/);
    expect(r.stderr).toMatch(/^hint: /m);
  });
});

async function waitFor(pred: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
