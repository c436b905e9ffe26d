/**
 * DB selection and mapping on real servers, through the built CLI (issue #13 points 4–6):
 * - an out-of-range target DB (`--db-map 1:20` into a 16-DB target) stops sync, restore and precheck
 *   with exit 2 and the DB named, the target untouched; a DB only the stream or the file reveals stops
 *   the run at its first SELECT (gated), before the writes behind it could land in DB 0;
 * - merged mappings: refused without --allow-db-merge; with it a FLUSHDB on either merged source DB
 *   stops the run (ERR_DB_MERGE_FLUSH) and no key of the other DB is lost; MOVE / COPY between the
 *   merged DBs are no-ops and the run goes on;
 * - FLUSHALL with a --dbs subset empties the mapped target DBs only.
 */
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliResult, cliBuilt, parseCliError, runCli } from '../helpers/cli.js';
import { startRedis, type TestServer } from '../helpers/server.js';

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});
async function server(config: Record<string, string> = {}): Promise<TestServer> {
  const s = await startRedis(config);
  servers.push(s);
  return s;
}

/** Live sync in the background. */
function startSync(args: string[]): { child: Promise<ChildProcess>; done: Promise<CliResult> } {
  let resolveChild!: (c: ChildProcess) => void;
  const child = new Promise<ChildProcess>((r) => {
    resolveChild = r;
  });
  const done = runCli([...args, '--no-progress'], { onSpawn: resolveChild, timeoutMs: 120_000 });
  return { child, done };
}

async function waitFor(what: string, f: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Every key and string value of one DB (the tests only write strings). */
async function dump(s: TestServer, db: number): Promise<Record<string, string | null>> {
  const c = s.client.duplicate({ db });
  try {
    const keys = (await c.keys('*')).sort();
    const out: Record<string, string | null> = {};
    for (const k of keys) out[k] = await c.get(k);
    return out;
  } finally {
    c.disconnect();
  }
}

async function put(s: TestServer, db: number, kv: Record<string, string>): Promise<void> {
  const c = s.client.duplicate({ db });
  try {
    for (const [k, v] of Object.entries(kv)) await c.set(k, v);
  } finally {
    c.disconnect();
  }
}

/** Run commands in one DB of the source (a fresh connection, so the SELECT is explicit). */
async function onSource(s: TestServer, db: number, ...cmds: string[][]): Promise<unknown[]> {
  const c = s.client.duplicate({ db });
  try {
    const out: unknown[] = [];
    for (const [name, ...args] of cmds) out.push(await c.call(name!, ...args));
    return out;
  } finally {
    c.disconnect();
  }
}

/** The source as an RDB file (SAVE into its dir). */
async function rdbOf(s: TestServer): Promise<string> {
  await s.client.save();
  return path.join(s.dir, 'dump.rdb');
}

describe.skipIf(!cliBuilt())('DB mapping: a target DB out of range (point 4)', () => {
  it('sync --dbs 1 --db-map 1:20 into 16 DBs: exit 2, DB 20 named, target untouched (with and without the precheck)', async () => {
    const src = await server();
    const dst = await server();
    await put(src, 1, { a: '1', b: '2', c: '3' });
    await put(dst, 0, { a: 'target-own', keep: 'yes' });
    for (const extra of [[], ['--skip-precheck']]) {
      const r = await runCli(
        [
          '--source',
          src.url,
          '--target',
          dst.url,
          '--dbs',
          '1',
          '--db-map',
          '1:20',
          '--no-progress',
          ...extra,
        ],
        { timeoutMs: 60_000 },
      );
      expect(r.code, r.stderr).toBe(2);
      const e = parseCliError(r.stderr);
      expect(e?.code, r.stderr).toBe(extra.length === 0 ? 'ERR_PRECHECK' : 'ERR_TARGET_DB');
      expect(e?.message).toMatch(/target has 16 DBs.*source DB 1 → target DB 20/);
      expect(e?.hint).toMatch(/--db-map 1:N|databases/);
      expect(await dump(dst, 0)).toEqual({ a: 'target-own', keep: 'yes' });
      expect(await dst.client.dbsize()).toBe(2);
    }
  }, 120_000);

  it('restore --db-map 1:20: exit 2, DB 20 named, target untouched; precheck says the same', async () => {
    const src = await server();
    const dst = await server();
    await put(src, 1, { a: '1', b: '2' });
    const rdb = await rdbOf(src);
    await put(dst, 0, { a: 'target-own' });
    for (const extra of [[], ['--skip-precheck']]) {
      const r = await runCli(
        [
          'restore',
          '--rdb',
          rdb,
          '--target',
          dst.url,
          '--dbs',
          '1',
          '--db-map',
          '1:20',
          '--no-progress',
          ...extra,
        ],
        { timeoutMs: 60_000 },
      );
      expect(r.code, r.stderr).toBe(2);
      const e = parseCliError(r.stderr);
      expect(e?.code, r.stderr).toBe(extra.length === 0 ? 'ERR_PRECHECK' : 'ERR_TARGET_DB');
      expect(e?.message).toMatch(/target DB 20/);
      expect(await dump(dst, 0)).toEqual({ a: 'target-own' });
    }
    // Without --dbs the map alone names DB 20 (a swap: no merge).
    const m = await runCli([
      'restore',
      '--rdb',
      rdb,
      '--target',
      dst.url,
      '--db-map',
      '1:20,20:1',
      '--no-progress',
    ]);
    expect(m.code, m.stderr).toBe(2);
    expect(parseCliError(m.stderr)?.message).toMatch(/source DB 1 → target DB 20/);

    const p = await runCli(['precheck', '--rdb', rdb, '--target', dst.url, '--dbs', '1', '--db-map', '1:20']);
    expect(p.code, p.stdout).toBe(2);
    expect(p.stdout).toMatch(
      /error +TARGET_DBS: the target has 16 DBs \(0-15\), but this run writes source DB 1 → target DB 20/,
    );
    const ps = await runCli([
      'precheck',
      '--source',
      src.url,
      '--target',
      dst.url,
      '--dbs',
      '1',
      '--db-map',
      '1:20',
    ]);
    expect(ps.code, ps.stdout).toBe(2);
    expect(ps.stdout).toMatch(/error +TARGET_DBS: .*target DB 20/);
    // In range: an info line, exit 0.
    const ok = await runCli([
      'precheck',
      '--source',
      src.url,
      '--target',
      dst.url,
      '--dbs',
      '1',
      '--db-map',
      '1:15',
    ]);
    expect(ok.stdout).toMatch(/info +TARGET_DBS: the target has 16 DBs/);
    expect(await dump(dst, 0)).toEqual({ a: 'target-own' });
  }, 120_000);

  it('a DB only the stream reveals (target with 4 DBs): the run stops at its SELECT, nothing lands in DB 0', async () => {
    const src = await server({ 'repl-diskless-sync-delay': '0' });
    const dst = await server({ databases: '4' });
    await put(src, 0, { s0: 'x' });
    await put(dst, 0, { victim: 'target-own' });
    const run = startSync(['--source', src.url, '--target', dst.url, '--on-conflict', 'overwrite']);
    await waitFor('the snapshot', async () => (await dump(dst, 0)).s0 === 'x');
    // Writes in DB 6: SELECT 6 fails on the target; before, the SETs behind it ran in DB 0.
    await onSource(src, 6, ['SET', 'victim', 'from-db6'], ['SET', 'other', 'from-db6']);
    const r = await run.done;
    expect(r.code, r.stderr).toBe(2);
    const e = parseCliError(r.stderr);
    expect(e?.code, r.stderr).toBe('ERR_TARGET_DB');
    // The filter knows the target's 4 DBs (read at start): the write stops before the sink.
    expect(e?.message).toMatch(/source wrote to DB 6.*target has 4 DBs \(0-3\)/);
    expect(e?.hint).toMatch(/--db-map 6:N/);
    expect(await dump(dst, 0)).toEqual({ s0: 'x', victim: 'target-own' });
  }, 120_000);

  it('restore of a file whose DB 6 the target lacks: stops at the SELECT, the batch behind it not applied in DB 0', async () => {
    const src = await server();
    const dst = await server({ databases: '4' });
    await put(src, 6, { victim: 'from-db6', more: 'x', third: 'y' });
    const rdb = await rdbOf(src);
    await put(dst, 0, { victim: 'target-own' });
    const r = await runCli(
      ['restore', '--rdb', rdb, '--target', dst.url, '--on-conflict', 'overwrite', '--no-progress'],
      { timeoutMs: 60_000 },
    );
    expect(r.code, r.stderr).toBe(2);
    expect(parseCliError(r.stderr)?.code, r.stderr).toBe('ERR_TARGET_DB');
    expect(parseCliError(r.stderr)?.message).toMatch(/write for DB 6 arrived, but the target has 4 DBs/);
    expect(await dump(dst, 0)).toEqual({ victim: 'target-own' });
  }, 120_000);
});

describe.skipIf(!cliBuilt())('DB mapping: merged DBs (point 5)', () => {
  it('refused without --allow-db-merge (ERR_CONFIG naming the DBs), nothing written', async () => {
    const src = await server();
    const dst = await server();
    await put(src, 1, { a: '1' });
    const r = await runCli(['--source', src.url, '--target', dst.url, '--dbs', '0,1', '--db-map', '1:0']);
    expect(r.code).toBe(2);
    const e = parseCliError(r.stderr);
    expect(e?.code, r.stderr).toBe('ERR_CONFIG');
    expect(e?.message).toMatch(/source DBs 0, 1 into target DB 0/);
    expect(e?.hint).toMatch(/--allow-db-merge/);
    expect(await dst.client.dbsize()).toBe(0);
  }, 60_000);

  for (const flushed of [1, 0]) {
    it(`FLUSHDB of source DB ${flushed} (merged with DB ${1 - flushed}): the run stops, no key of the other DB lost`, async () => {
      const src = await server({ 'repl-diskless-sync-delay': '0' });
      const dst = await server();
      await put(src, 0, { a0: 'zero', b0: 'zero' });
      await put(src, 1, { a1: 'one' });
      const run = startSync([
        '--source',
        src.url,
        '--target',
        dst.url,
        '--dbs',
        '0,1',
        '--db-map',
        '1:0',
        '--allow-db-merge',
      ]);
      await waitFor('the snapshot', async () => Object.keys(await dump(dst, 0)).length === 3);
      await onSource(src, flushed, ['FLUSHDB']);
      const r = await run.done;
      expect(r.code, r.stderr).toBe(2);
      const e = parseCliError(r.stderr);
      expect(e?.code, r.stderr).toBe('ERR_DB_MERGE_FLUSH');
      expect(e?.message).toMatch(
        new RegExp(`FLUSHDB in DB ${flushed}.*target DB 0 with source DB ${1 - flushed}`),
      );
      const left = await dump(dst, 0);
      // The other DB's keys are all there (the flushed DB's too: the run stopped before the FLUSHDB).
      expect(left).toEqual({ a0: 'zero', b0: 'zero', a1: 'one' });
    }, 120_000);
  }

  it('MOVE and COPY between the merged DBs are no-ops; the run goes on', async () => {
    const src = await server({ 'repl-diskless-sync-delay': '0' });
    const dst = await server();
    await put(src, 0, { m: 'moved', c: 'copied' });
    await put(src, 1, { one: '1' });
    const run = startSync([
      '--source',
      src.url,
      '--target',
      dst.url,
      '--dbs',
      '0,1',
      '--db-map',
      '1:0',
      '--allow-db-merge',
    ]);
    await waitFor('the snapshot', async () => Object.keys(await dump(dst, 0)).length === 3);
    expect(
      await onSource(
        src,
        0,
        ['MOVE', 'm', '1'],
        ['COPY', 'c', 'c', 'DB', '1'],
        ['COPY', 'c', 'c2', 'DB', '1'],
      ),
    ).toEqual([1, 1, 1]);
    await onSource(src, 1, ['MOVE', 'one', '0'], ['SET', 'end', 'marker']);
    await waitFor('the marker', async () => (await dump(dst, 0)).end === 'marker');
    expect(await dump(dst, 0)).toEqual({ m: 'moved', c: 'copied', c2: 'copied', one: '1', end: 'marker' });
    (await run.child).kill('SIGINT');
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
  }, 120_000);
});

describe.skipIf(!cliBuilt())('DB mapping: FLUSHALL with a --dbs subset (point 6)', () => {
  it('--dbs 1,2 --db-map 1:5: FLUSHALL empties target DBs 5 and 2 only; the run goes on', async () => {
    const src = await server({ 'repl-diskless-sync-delay': '0' });
    const dst = await server();
    await put(src, 0, { k0: 'not migrated' });
    await put(src, 1, { k1: 'one' });
    await put(src, 2, { k2: 'two' });
    await put(dst, 0, { own0: 'keep' });
    await put(dst, 3, { own3: 'keep' });
    const run = startSync(['--source', src.url, '--target', dst.url, '--dbs', '1,2', '--db-map', '1:5']);
    await waitFor(
      'the snapshot',
      async () => (await dump(dst, 5)).k1 === 'one' && (await dump(dst, 2)).k2 === 'two',
    );
    await onSource(src, 0, ['FLUSHALL']);
    await onSource(src, 1, ['SET', 'after', 'flush']);
    await waitFor('the write after FLUSHALL', async () => (await dump(dst, 5)).after === 'flush');
    expect(await dump(dst, 5)).toEqual({ after: 'flush' });
    expect(await dump(dst, 2)).toEqual({});
    expect(await dump(dst, 0)).toEqual({ own0: 'keep' });
    expect(await dump(dst, 3)).toEqual({ own3: 'keep' });
    (await run.child).kill('SIGINT');
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
  }, 120_000);
});
