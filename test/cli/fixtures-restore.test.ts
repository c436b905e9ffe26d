/**
 * Every RDB of the shared fixture corpus through `replicant restore` into a fresh redis 7.0: either it
 * loads (and the target then holds exactly the keys `rdb-inspect` lists, minus ones already expired),
 * or it is one of EXPECTED_ERRORS and stops with exactly that error (with a hint, no stack trace). The
 * outcome table is printed so a reviewer sees which files are refused and why.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliBuilt, FIXTURES, parseCliError, runCli } from '../helpers/cli.js';
import { startRedis, type TestServer } from '../helpers/server.js';

const RDB = path.join(FIXTURES, 'rdb');
if (!existsSync(RDB)) console.warn(`skipping the fixture corpus restore: ${RDB} not found`);

function rdbFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) out.push(...rdbFiles(p));
    else if (e.endsWith('.rdb')) out.push(p);
  }
  return out.sort();
}

const files = existsSync(RDB) ? rdbFiles(RDB) : [];

/**
 * The files that do not restore into 7.0, each with the error it must stop with; every other file
 * must restore completely. Corrupt on purpose (other tools' test suites), newer than any server, or a
 * pre-GA module format nobody can read.
 */
const EXPECTED_ERRORS: Record<string, string> = {
  // A ziplist with a corrupt entry (Redis' test suite): our deep validation refuses it before any
  // RESTORE (7.0's RESTORE used to be the one refusing it: ERR_TARGET_WRITE).
  'redis/corrupt_ziplist.rdb': 'ERR_RDB_CORRUPT',
  'librdb/future_v19.rdb': 'ERR_RDB_VERSION',
  'valkey/encodings-rdb987.rdb': 'ERR_RDB_VERSION',
  'librdb/invalid_chksum_v8.rdb': 'ERR_RDB_CHECKSUM',
  // Module type 6 (the 4.0 release candidates' format): no length prefix, cannot be skipped.
  'replicator/module.rdb': 'ERR_RDB_UNSUPPORTED',
};
/**
 * Empty collections, written on purpose by Redis' and KeyDB's test suites (7.0's RESTORE refuses
 * them): skipped as Redis' own loader does, and counted as `skipped: empty`. Every key of these files.
 */
const EXPECTED_EMPTY: Record<string, number> = {
  'keydb/corrupt_empty_keys.rdb': 8,
  'redis/corrupt_empty_keys.rdb': 9,
};
/**
 * Stream v4 (Redis 8.6) keys with idempotent-producer state: 7.0 can't RESTORE them, the rewrite can't
 * carry that state, so each is written without it, counted (`skipped: stream-idmp`) and named in a warning.
 */
const EXPECTED_IDMP: Record<string, number> = {
  'librdb/stream_v13.rdb': 28,
  'librdb/stream_v13_idmp.rdb': 1,
};
const outcomes: string[] = [];
let dst: TestServer;

beforeAll(async () => {
  dst = await startRedis();
});
afterAll(async () => {
  await dst?.stop();
  if (outcomes.length > 0) console.log(`fixture restore outcomes:\n${outcomes.sort().join('\n')}`);
});

async function targetKeys(): Promise<number> {
  const info = await dst.client.info('keyspace');
  return [...info.matchAll(/keys=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
}

describe.skipIf(!cliBuilt() || files.length === 0)('fixture corpus → restore into redis 7.0', () => {
  it.each(files.map((f) => [path.relative(RDB, f), f]))('%s', async (name, file) => {
    await dst.client.flushall();
    await dst.client.call('FUNCTION', 'FLUSH');
    const r = await runCli([
      'restore',
      '--rdb',
      file,
      '--target',
      dst.url,
      '--no-progress',
      '--on-conflict',
      'overwrite',
      // 7.0 has no field TTLs: keep such hashes, without the TTLs (the default would stop at them).
      '--hash-field-ttl',
      'strip',
    ]);
    if (r.code === 0) {
      expect(
        EXPECTED_ERRORS[name],
        `${name} was expected to fail with ${EXPECTED_ERRORS[name]}`,
      ).toBeUndefined();
      const inspect = await runCli(['rdb-inspect', file, '--json']);
      const now = Date.now();
      const keys = inspect.stdout
        .trimEnd()
        .split('\n')
        .slice(0, -1)
        .map((l) => JSON.parse(l) as { db: number; key: string; type: string; expireAtMs: number | null })
        .filter((k) => k.expireAtMs === null || k.expireAtMs > now + 5000);
      // Hand-assembled files (rdb-cli) repeat keys: the last one wins, as when redis loads them.
      const distinct = new Set(keys.map((k) => `${k.db}:${k.key}`)).size;
      const dups = keys.length - distinct;
      // Module values load only where the module is: the sink skips them and the summary counts them.
      const modules = keys.filter((k) => k.type === 'module').length;
      if (modules > 0) expect(r.stderr).toMatch(/skipped: module:/);
      const empty = Number(/skipped: empty\s+(\d+)/.exec(r.stderr)?.[1] ?? 0);
      expect(empty, `${name}: keys skipped as empty`).toBe(EXPECTED_EMPTY[name] ?? 0);
      const idmp = Number(/skipped: stream-idmp\s+(\d+)/.exec(r.stderr)?.[1] ?? 0);
      expect(idmp, `${name}: streams written without their IDMP state`).toBe(EXPECTED_IDMP[name] ?? 0);
      if (idmp > 0)
        expect(r.stderr).toMatch(/WARN .*idempotent-producer \(IDMP\).* key=stream_\S+ db=0 producers=[12]/);
      expect(await targetKeys()).toBe(distinct - modules - empty);
      outcomes.push(
        `ok    ${name} (${distinct - modules - empty} keys${modules ? `, ${modules} module values skipped` : ''}${empty ? `, ${empty} empty keys skipped` : ''}${idmp ? `, ${idmp} without IDMP state` : ''}${dups ? `, ${dups} repeated keys` : ''})`,
      );
      return;
    }
    expect(EXPECTED_ERRORS[name], `${name} should restore:\n${r.stderr}`).toBeDefined();
    expect(r.code, r.stderr).toBe(2);
    const e = parseCliError(r.stderr);
    expect(e, r.stderr).not.toBeNull();
    expect(e!.code).toBe(EXPECTED_ERRORS[name]);
    expect(e!.hasStack).toBe(false);
    expect(e!.hint).toBeTruthy();
    outcomes.push(`error ${name}: [${e!.code}] ${e!.message.slice(0, 140)}`);
  });

  it.each(Object.keys(EXPECTED_EMPTY))(
    '%s with --no-restore: the decoded empty keys are skipped too',
    async (name) => {
      await dst.client.flushall();
      const r = await runCli([
        'restore',
        '--rdb',
        path.join(RDB, name),
        '--target',
        dst.url,
        '--no-progress',
        '--no-restore',
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(Number(/skipped: empty\s+(\d+)/.exec(r.stderr)?.[1] ?? 0)).toBe(EXPECTED_EMPTY[name]);
      expect(await targetKeys()).toBe(0);
    },
  );
});
