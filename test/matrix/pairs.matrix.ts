/**
 * The version matrix: a live sync (full + incremental, every type the source version has, a write
 * load during the sync) for every source build × target build that runs here, through the CLI, then
 * target == source key by key (type, value, TTL). Each pair prints how its keys were written
 * (RESTORE / rewrite / skipped). A pair that cannot be supported fails with the documented message:
 * function libraries into a target before 7.0 stop at the precheck naming --skip-functions.
 *
 * Builds come from scripts/fetch-servers.mjs (`npm run test:matrix` runs it first).
 */
import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliResult, cliBuilt, parseCliError, runCli } from '../helpers/cli.js';
import { compareServers, type Diff } from '../helpers/compare.js';
import { runWriteLoad, seedAllTypes } from '../helpers/seed.js';
import { startRedis, type TestServer } from '../helpers/server.js';
import { SERVER_CACHE, type ServerBuild, serverBuilds, versionNum } from '../helpers/versions.js';
import { crossVersionStreamLoad } from './xver-load.js';

const HEARTBEAT = 'DTS_REDIS_TIMESTAMP_HEARTBEAT';
const builds = serverBuilds();
const SOURCES = ['redis-5.0', 'redis-6.0', 'redis-6.2', 'redis-7.0', 'redis-7.2', 'redis-7.4', 'valkey-9'];
const TARGETS = ['redis-5.0', 'redis-6.2', 'redis-7.0', 'redis-7.2', 'redis-7.4', 'valkey-9'];
const pick = (names: string[]) =>
  names.map((n) => builds.find((b) => b.name === n)).filter((b): b is ServerBuild => !!b);

if (builds.length === 0)
  console.log(`version matrix skipped: no ${SERVER_CACHE}/servers.json (run scripts/fetch-servers.mjs)`);
else {
  const missing = [...new Set([...SOURCES, ...TARGETS])].filter((n) => !builds.some((b) => b.name === n));
  if (missing.length > 0)
    console.log(`version matrix: not runnable here (see fetch-servers output): ${missing.join(', ')}`);
}

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function start(b: ServerBuild): Promise<TestServer> {
  // No diskless delay: the snapshot starts at once, so the load spans snapshot and stream.
  const s = await startRedis({ 'repl-diskless-sync-delay': '0' }, { binary: b.path });
  servers.push(s);
  return s;
}

/**
 * Sources that create consumers without replicating it (see compare.ts ignoreEmptyConsumers): an
 * XREADGROUP that delivers nothing creates its consumer on the master but propagates nothing (checked
 * on 7.2.4 by reading its replication stream: only the XGROUP CREATE arrives), so no replica of theirs,
 * native or ours, has that consumer until its next full sync.
 */
const UNREPLICATED_CONSUMERS = new Set(['redis-5.0', 'redis-7.2', 'redis-7.4', 'valkey-9']);

async function waitEqual(src: TestServer, dst: TestServer, functions: boolean, source = ''): Promise<Diff[]> {
  const deadline = Date.now() + 40_000;
  for (;;) {
    const r = await compareServers(src.client, dst.client, {
      ignoreKeys: [HEARTBEAT],
      ignoreEntriesRead: true,
      ignoreEmptyConsumers: UNREPLICATED_CONSUMERS.has(source),
      functions,
    });
    if (r.diffs.length === 0 || Date.now() > deadline) return r.diffs;
    await new Promise((res) => setTimeout(res, 300));
  }
}

/** Writes whose replicated form differs by source version, and that old targets need translated. */
async function streamPhaseCommands(src: TestServer, sv: number, family: 'redis' | 'valkey'): Promise<void> {
  const c = src.client;
  // DUMP/RESTORE (the source's payload version), EXPIRE NX/GT, ZADD GT/LT, XTRIM MINID, GETEX/GETDEL,
  // LMPOP, SET … GET…, each guarded by the source version (issue #13).
  await crossVersionStreamLoad(c, sv, family);
  await c.set('tr:px', 'v', 'PX', 600_000); // relative before 7.0, PXAT after
  await c.setex('tr:setex', 600, 'v');
  await c.set('tr:exp', 'v');
  await c.expire('tr:exp', 700);
  await c.call('PSETEX', 'tr:psetex', '650000', 'v');
  await c.set('tr:nx', 'v', 'PX', 500_000, 'NX');
  await c.rpush('tr:list', 'a', 'b', 'c', 'd', 'e', 'f');
  await c.call('XGROUP', 'CREATE', 'tr:stream', 'g', '$', 'MKSTREAM');
  if (sv >= 60000) {
    await c.set('tr:keep', 'v1', 'PX', 800_000);
    await c.call('SET', 'tr:keep', 'v2', 'KEEPTTL');
  }
  if (sv >= 60200) {
    await c.call('LMOVE', 'tr:list', 'tr:list2', 'LEFT', 'RIGHT');
    await c.call('LMOVE', 'tr:list', 'tr:list2', 'RIGHT', 'LEFT');
    await c.call('LPOP', 'tr:list', '2');
    await c.call('COPY', 'tr:px', 'tr:copy');
    await c.call('XGROUP', 'CREATECONSUMER', 'tr:stream', 'g', 'empty-consumer');
    await c.call('GETEX', 'tr:exp', 'PX', '900000');
    await c.call('SET', 'tr:get', 'v', 'GET');
  }
}

/** `restored N`, `rewritten N`… rows of the summary the CLI prints when it stops. */
function writeCounts(stderr: string): string {
  const rows = stderr
    .split('\n')
    .filter((l) => /RESTORE|rewrit|SET\/MSET|skipped|expired/i.test(l))
    .map((l) => l.trim().replace(/\s+/g, ' '));
  return rows.join('; ');
}

describe.skipIf(!cliBuilt() || builds.length === 0)('version matrix: live sync', () => {
  for (const s of pick(SOURCES)) {
    for (const t of pick(TARGETS)) {
      it(`${s.name} (${s.version}) → ${t.name} (${t.version})`, async () => {
        const sv = versionNum(s.version);
        const tv = versionNum(t.version);
        const src = await start(s);
        const dst = await start(t);
        const functions = sv >= 70000 && s.family === 'redis';
        await seedAllTypes(src.client, { dbs: [0, 3], serverVersion: sv, functions });
        const args = ['--source', src.url, '--target', dst.url, '--no-progress'];

        if (functions && tv < 70000) {
          // Not supportable: the documented refusal, before anything is written.
          const r = await runCli(args, { timeoutMs: 60_000 });
          expect(r.code).toBe(2);
          const e = parseCliError(r.stderr)!;
          expect(e.code).toBe('ERR_PRECHECK');
          expect(e.message).toMatch(/function librar.*has no FUNCTION command/);
          expect(e.hint).toMatch(/--skip-functions/);
          expect(await dst.client.dbsize()).toBe(0);
          args.push('--skip-functions');
        }

        let child: ChildProcess | null = null;
        const done: Promise<CliResult> = runCli(args, {
          onSpawn: (c) => {
            child = c;
          },
          timeoutMs: 150_000,
        });
        const stop = new AbortController();
        const load = runWriteLoad(src.client, {
          ops: 3000,
          signal: stop.signal,
          dbs: [0, 3],
          serverVersion: sv,
          batch: 20,
        });
        let r: CliResult | null = null;
        try {
          await load;
          const first = await waitEqual(src, dst, functions && tv >= 70000, s.name);
          expect(
            first,
            `${s.name} → ${t.name} after the snapshot: ${JSON.stringify(first.slice(0, 5))}`,
          ).toEqual([]);
          // Stream phase for sure now: the commands whose form depends on the versions.
          await streamPhaseCommands(src, sv, s.family);
          await runWriteLoad(src.client, { ops: 1000, dbs: [0, 3], serverVersion: sv, batch: 20, seed: 7 });
          const diffs = await waitEqual(src, dst, functions && tv >= 70000, s.name);
          (child as ChildProcess | null)?.kill('SIGTERM');
          r = await done;
          expect(
            diffs,
            `${s.name} → ${t.name}: ${JSON.stringify(diffs.slice(0, 5))}\n${r.stderr.slice(-3000)}`,
          ).toEqual([]);
          expect(r.code, r.stderr.slice(-2000)).toBe(0);
          console.log(`matrix ${s.name} → ${t.name}: ${writeCounts(r.stderr)}`);
        } finally {
          stop.abort();
          (child as ChildProcess | null)?.kill('SIGKILL');
          if (!r) await done;
        }
      });
    }
  }
});
