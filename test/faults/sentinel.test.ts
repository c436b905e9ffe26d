/**
 * Source failover through Sentinel, through the built CLI (`sync --source-sentinel HOST:PORT
 * --source-master-name m1 --state-dir`): it finds the master by asking a Sentinel, the master
 * dies, the Sentinel promotes its replica, and the replica link — resolved again through the
 * Sentinel — continues on the promoted server by PSYNC with the old replid (psync2): no full copy, no
 * write lost or doubled. precheck and verify with the same flags ask the Sentinel once, and check
 * the master it names.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, startRedis, type TestServer } from '../helpers/server.js';
import { cliBuilt, runCli } from '../helpers/cli.js';
import { type CliRun, killAll, startSync, url } from './cli.js';
import { counters, expectSameCounters, syncStats, waitEqual } from './util.js';

const servers: TestServer[] = [];
const procs: ChildProcess[] = [];
const dirs: string[] = [];
let run: CliRun | null = null;
afterEach(async () => {
  killAll();
  run = null;
  for (const p of procs.splice(0)) p.kill('SIGKILL');
  await Promise.all(servers.splice(0).map((s) => s.stop().catch(() => {})));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startSentinel(master: TestServer): Promise<{ port: number; client: Redis }> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'replicant-sentinel-'));
  dirs.push(dir);
  const conf = path.join(dir, 'sentinel.conf');
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor m1 127.0.0.1 ${master.port} 1`,
      'sentinel down-after-milliseconds m1 1000',
      'sentinel failover-timeout m1 5000',
      '',
    ].join('\n'),
  );
  const proc = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  procs.push(proc);
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => {}); // refused until the Sentinel listens
  for (let i = 0; i < 100; i++) {
    try {
      await client.connect();
      break;
    } catch {
      await sleep(50);
    }
  }
  return { port, client };
}

describe.skipIf(!cliBuilt())('source failover through Sentinel', () => {
  it('master killed, replica promoted: the link follows it by PSYNC continue, exact', async () => {
    const m = await startRedis({ 'repl-diskless-sync-delay': '0' });
    const r = await startRedis({ 'repl-diskless-sync-delay': '0' });
    const dst = await startRedis();
    servers.push(m, r, dst);
    await r.client.call('REPLICAOF', '127.0.0.1', String(m.port));
    for (let i = 0; i < 100 && !/master_link_status:up/.test(await r.client.info('replication')); i++)
      await sleep(50);
    const sentinel = await startSentinel(m);
    await counters(m, 1);
    const state = mkdtempSync(path.join(os.tmpdir(), 'replicant-state-'));
    dirs.push(state);
    run = startSync(null, dst, [
      '--source-sentinel',
      `127.0.0.1:${sentinel.port}`,
      '--source-master-name',
      'm1',
      '--state-dir',
      state,
    ]);
    expect(await run.started()).toBe('full');
    for (let k = 2; k < 10; k++) await counters(m, k);
    await waitEqual(m, dst);
    // Everything the master has is on the replica too (we are a replica as well: 2 acks).
    await m.client.call('WAIT', '2', '5000');
    const before = await syncStats(r);
    m.client.disconnect();
    m.proc.kill('SIGKILL');
    let promoted = false;
    for (let i = 0; i < 300 && !promoted; i++) {
      await sleep(100);
      promoted = /role:master/.test(await r.client.info('replication'));
    }
    expect(promoted).toBe(true);
    for (let k = 10; k < 20; k++) await counters(r, k);
    await waitEqual(r, dst, 60_000);
    await expectSameCounters(r, dst, 19 * 200);
    const after = await syncStats(r);
    expect(after.full).toBe(before.full); // followed by partial sync
    expect(after.partial).toBeGreaterThan(before.partial);
    const end = await run.stop();
    expect(end.code, end.stderr.slice(-3000)).toBe(0);
    expect(end.stderr).toMatch(/reconnecting to continue by PSYNC/);
    expect(end.stderr).toMatch(new RegExp(`source master named by Sentinel master=127.0.0.1:${r.port}`));
    sentinel.client.disconnect();
  }, 120_000);

  /** A master with 37 hashes, a Sentinel monitoring it, an empty target. */
  async function viaSentinel() {
    const m = await startRedis();
    const dst = await startRedis();
    servers.push(m, dst);
    const sentinel = await startSentinel(m);
    for (let i = 0; i < 37; i++) await m.client.hset(`h:${i}`, 'f', String(i));
    const via = ['--source-sentinel', `127.0.0.1:${sentinel.port}`, '--source-master-name', 'm1'];
    const named = new RegExp(`source master named by Sentinel master=127.0.0.1:${m.port}`);
    return { m, dst, sentinel, via, named };
  }

  it('precheck finds the source master through Sentinel', async () => {
    const { dst, sentinel, via, named } = await viaSentinel();
    const pre = await runCli(['precheck', ...via, '--target', url(dst), '--json']);
    expect(pre.code, pre.stderr.slice(-2000)).toBe(0);
    expect(pre.stderr).toMatch(named);
    const r = JSON.parse(pre.stdout) as { ok: boolean; findings: { code: string; message: string }[] };
    expect(r.ok).toBe(true);
    // What it sampled is the master's data: 37 hashes.
    expect(r.findings.find((f) => f.code === 'TYPE_PATH')?.message).toMatch(/hash.*37 keys/);
    sentinel.client.disconnect();
  }, 120_000);

  it('verify finds the source master through Sentinel', async () => {
    const { dst, sentinel, via, named } = await viaSentinel();
    // The target lacks them all, then holds the same.
    const v1 = await runCli(['verify', ...via, '--target', url(dst)]);
    expect(v1.code, v1.stderr.slice(-2000)).toBe(1);
    expect(v1.stderr).toMatch(named);
    for (let i = 0; i < 37; i++) await dst.client.hset(`h:${i}`, 'f', String(i));
    const v2 = await runCli(['verify', ...via, '--target', url(dst)]);
    expect(v2.code, `${v2.stdout}\n${v2.stderr.slice(-2000)}`).toBe(0);
    sentinel.client.disconnect();
  }, 120_000);
});
