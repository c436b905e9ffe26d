/**
 * Resume from the checkpoint (issue #6), through the CLI on real servers: with --state-dir the
 * checkpoint key on the target says which writes it holds. SIGTERM or kill -9, writes on the source
 * meanwhile (INCR counters and RPUSH sequences show any lost or doubled write), restart → partial sync
 * (the source's sync_partial_ok rises, sync_full does not) and target == source. A source whose
 * backlog no longer holds the checkpoint gets a new full copy (the old one emptied first: a key
 * deleted meanwhile does not stay); a target that lost its key is refused.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliResult, cliBuilt, parseCliError, runCli } from '../helpers/cli.js';
import { compareServers } from '../helpers/compare.js';
import { runWriteLoad, seedAllTypes } from '../helpers/seed.js';
import { startRedis, type TestServer } from '../helpers/server.js';

const HEARTBEAT = 'DTS_REDIS_TIMESTAMP_HEARTBEAT';
const CHECKPOINT_KEY = 'replicant:checkpoint';
const servers: TestServer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
async function server(config: Record<string, string> = {}): Promise<TestServer> {
  const s = await startRedis({ 'repl-diskless-sync-delay': '0', ...config });
  servers.push(s);
  return s;
}

function start(args: string[]): { child: Promise<ChildProcess>; done: Promise<CliResult> } {
  let resolveChild!: (c: ChildProcess) => void;
  const child = new Promise<ChildProcess>((r) => {
    resolveChild = r;
  });
  return { child, done: runCli([...args, '--no-progress'], { onSpawn: resolveChild, timeoutMs: 120_000 }) };
}

async function waitEqual(src: TestServer, dst: TestServer): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await compareServers(src.client, dst.client, {
      ignoreKeys: [HEARTBEAT, CHECKPOINT_KEY],
      ignoreEntriesRead: true,
    });
    if (r.diffs.length === 0) return;
    if (Date.now() > deadline) throw new Error(`not equal: ${JSON.stringify(r.diffs.slice(0, 5))}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

async function stats(s: TestServer): Promise<{ full: number; partial: number }> {
  const info = await s.client.info('stats');
  return {
    full: Number(/sync_full:(\d+)/.exec(info)![1]),
    partial: Number(/sync_partial_ok:(\d+)/.exec(info)![1]),
  };
}

/** Non-idempotent writes: a lost or doubled one shows in the numbers. */
async function counters(s: TestServer, round: number): Promise<void> {
  const p = s.client.pipeline();
  for (let i = 0; i < 200; i++) p.incr(`ctr:${i % 10}`).rpush('seq', `${round}:${i}`);
  await p.exec();
}

/** Until replicant is an online replica of `src` (the resume done). */
async function waitOnline(src: TestServer): Promise<void> {
  for (let i = 0; i < 200 && !/slave0:.*state=online/.test(await src.client.info('replication')); i++)
    await new Promise((r) => setTimeout(r, 50));
}

async function key(dst: TestServer): Promise<{ phase: string; offset: number | null } | null> {
  const v = await dst.client.get(CHECKPOINT_KEY);
  return v === null ? null : JSON.parse(v);
}

describe.skipIf(!cliBuilt())('resume from a checkpoint', () => {
  it('SIGTERM, writes meanwhile, restart: partial sync, no write lost or doubled (twice)', async () => {
    const src = await server();
    const dst = await server();
    const state = mkdtempSync(path.join(os.tmpdir(), 'replicant-state-'));
    dirs.push(state);
    await seedAllTypes(src.client, { dbs: [0, 2] });
    const args = ['--source', src.url, '--target', dst.url, '--state-dir', state];

    const a = start(args);
    await runWriteLoad(src.client, { ops: 1500, dbs: [0, 2] });
    await counters(src, 1);
    await waitEqual(src, dst);
    (await a.child).kill('SIGTERM');
    const ra = await a.done;
    expect(ra.code, ra.stderr).toBe(0);
    // The key on the target and its copy in --state-dir agree on the resume point.
    const k = await key(dst);
    expect(k).toMatchObject({ phase: 'stream', source: `127.0.0.1:${src.port}`, exclusive: true });
    expect(typeof k!.offset).toBe('number'); // 0 when no write reached the stream yet
    const ck = JSON.parse(readFileSync(path.join(state, 'replicant-checkpoint.json'), 'utf8'));
    expect(ck).toMatchObject({ version: 2, checkpoint: { phase: 'stream', offset: k!.offset } });

    await counters(src, 2); // while replicant is stopped
    const before = await stats(src);
    const b = start(args);
    await counters(src, 3);
    await runWriteLoad(src.client, { ops: 800, dbs: [0, 2], seed: 5 });
    await waitEqual(src, dst);
    const after = await stats(src);
    expect(after.partial).toBe(before.partial + 1);
    expect(after.full).toBe(before.full);
    expect(await dst.client.lrange('seq', 0, -1)).toEqual(await src.client.lrange('seq', 0, -1));
    expect(await dst.client.llen('seq')).toBe(600);
    // Stopped right after the resume, before any new write: the resume point is kept all the same.
    (await b.child).kill('SIGTERM');
    const rb = await b.done;
    expect(rb.code, rb.stderr).toBe(0);
    expect(rb.stderr).toMatch(/resuming from the checkpoint on the target/);
    const c = start(args);
    await waitOnline(src);
    (await c.child).kill('SIGTERM');
    expect((await c.done).code).toBe(0);
    await counters(src, 4);
    const d = start(args);
    await waitEqual(src, dst);
    expect(await stats(src)).toEqual({ full: before.full, partial: before.partial + 3 });
    expect(await dst.client.llen('seq')).toBe(800);
    expect(await dst.client.lrange('seq', 0, -1)).toEqual(await src.client.lrange('seq', 0, -1));
    (await d.child).kill('SIGTERM');
    expect((await d.done).code).toBe(0);
  });

  it('after kill -9 in the stream phase: the next start continues by partial sync, exact', async () => {
    const src = await server();
    const dst = await server();
    const state = mkdtempSync(path.join(os.tmpdir(), 'replicant-state-'));
    dirs.push(state);
    await seedAllTypes(src.client, { dbs: [0] });
    const args = ['--source', src.url, '--target', dst.url, '--state-dir', state];
    const a = start(args);
    await counters(src, 1);
    await waitEqual(src, dst);
    for (let i = 0; i < 100 && (await key(dst))?.phase !== 'stream'; i++)
      await new Promise((r) => setTimeout(r, 50));
    // Killed in the middle of a write load: some transactions in flight.
    const load = (async () => {
      for (let round = 2; round <= 6; round++) await counters(src, round);
    })();
    await new Promise((r) => setTimeout(r, 20));
    (await a.child).kill('SIGKILL');
    await a.done;
    await load;
    const before = await stats(src);
    const b = start(args);
    await counters(src, 7);
    await waitEqual(src, dst);
    const after = await stats(src);
    expect(after.partial).toBe(before.partial + 1);
    expect(after.full).toBe(before.full);
    expect(await dst.client.llen('seq')).toBe(7 * 200);
    expect(await dst.client.lrange('seq', 0, -1)).toEqual(await src.client.lrange('seq', 0, -1));
    for (let i = 0; i < 10; i++)
      expect(await dst.client.get(`ctr:${i}`)).toBe(await src.client.get(`ctr:${i}`));
    (await b.child).kill('SIGTERM');
    const rb = await b.done;
    expect(rb.code, rb.stderr).toBe(0);
    expect(rb.stderr).toMatch(/resuming from the checkpoint on the target/);
  });

  it('a source whose backlog no longer holds the checkpoint: a new full copy, nothing doubled or left over', async () => {
    const src = await server({ 'repl-backlog-size': '16kb' });
    const dst = await server();
    const state = mkdtempSync(path.join(os.tmpdir(), 'replicant-state-'));
    dirs.push(state);
    await src.client.set('k', 'v');
    await src.client.set('gone', 'soon');
    await counters(src, 1);
    const args = ['--source', src.url, '--target', dst.url, '--state-dir', state];
    const a = start(args);
    await waitEqual(src, dst);
    (await a.child).kill('SIGTERM');
    expect((await a.done).code).toBe(0);
    await src.client.set('big', 'x'.repeat(64 * 1024)); // pushes the checkpoint out of the 16 KB backlog
    await src.client.set('big2', 'y'.repeat(64 * 1024));
    await src.client.del('gone'); // a full copy over the old one must not leave it behind
    await counters(src, 2);
    const before = await stats(src);
    const b = start(args);
    await waitEqual(src, dst);
    expect(await dst.client.exists('gone')).toBe(0);
    expect(await dst.client.llen('seq')).toBe(400);
    expect(await dst.client.lrange('seq', 0, -1)).toEqual(await src.client.lrange('seq', 0, -1));
    expect((await stats(src)).full).toBe(before.full + 1);
    (await b.child).kill('SIGTERM');
    const rb = await b.done;
    expect(rb.code, rb.stderr).toBe(0);
    expect(rb.stderr).toMatch(/a new full copy: emptied the target DBs/);
  });

  it('a target that lost its checkpoint key under a --state-dir: refused, --flush-target copies again', async () => {
    const src = await server();
    const dst = await server();
    const state = mkdtempSync(path.join(os.tmpdir(), 'replicant-state-'));
    dirs.push(state);
    await counters(src, 1);
    const args = ['--source', src.url, '--target', dst.url, '--state-dir', state];
    const a = start(args);
    await waitEqual(src, dst);
    for (let i = 0; i < 100 && (await key(dst))?.phase !== 'stream'; i++)
      await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 1200)); // the state-dir copy is refreshed once a second
    (await a.child).kill('SIGTERM');
    expect((await a.done).code).toBe(0);
    await dst.client.flushall();
    const r = await runCli([...args, '--no-progress'], { timeoutMs: 30_000 });
    expect(r.code).toBe(2);
    const e = parseCliError(r.stderr)!;
    expect(e.code).toBe('ERR_CHECKPOINT_MISSING_ON_TARGET');
    expect(e.hint).toMatch(/--flush-target/);
    expect(e.hasStack).toBe(false);
    const b = start([...args, '--flush-target']);
    await waitEqual(src, dst);
    (await b.child).kill('SIGTERM');
    expect((await b.done).code).toBe(0);
  });
});

describe.skipIf(!cliBuilt())('source link lost in the stream phase', () => {
  it('the replica connection killed twice under load: reconnects by PSYNC, no write lost or doubled', async () => {
    const src = await server();
    const dst = await server();
    await seedAllTypes(src.client, { dbs: [0] });
    const a = start(['--source', src.url, '--target', dst.url]);
    await waitEqual(src, dst);
    const before = await stats(src);
    const stop = new AbortController();
    const load = (async () => {
      for (let round = 1; !stop.signal.aborted && round < 400; round++) {
        await counters(src, round);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    try {
      for (let k = 0; k < 2; k++) {
        await new Promise((r) => setTimeout(r, 300));
        expect(Number(await src.client.call('CLIENT', 'KILL', 'TYPE', 'replica'))).toBe(1);
        // Wait until replicant is back as a replica before the next cut.
        for (let i = 0; i < 100 && !/slave0:/.test(await src.client.info('replication')); i++)
          await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      stop.abort();
      await load.catch(() => {});
    }
    await waitEqual(src, dst).catch(async (e) => {
      (await a.child).kill('SIGTERM');
      const r = await a.done;
      throw new Error(`${e.message}\n${r.stderr.slice(-3000)}`);
    });
    const after = await stats(src);
    expect(after.full).toBe(before.full);
    expect(after.partial).toBe(before.partial + 2);
    expect(await dst.client.lrange('seq', 0, -1)).toEqual(await src.client.lrange('seq', 0, -1));
    (await a.child).kill('SIGTERM');
    const r = await a.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.match(/reconnecting to continue by PSYNC/g)?.length).toBe(2);
  });
});
