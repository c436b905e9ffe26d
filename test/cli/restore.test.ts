/**
 * `replicant restore` end to end through the built CLI against real redis-server 7.0 processes:
 * data seeded under configs that force compact encodings and big encodings → SAVE → restore into a
 * fresh server → compareServers finds 0 diffs (both the RESTORE path and `--no-restore` rewrites).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliBuilt, parseCliError, runCli } from '../helpers/cli.js';
import { compareServers } from '../helpers/compare.js';
import { seedAllTypes } from '../helpers/seed.js';
import { startRedis, type TestServer } from '../helpers/server.js';

if (!cliBuilt()) console.warn('skipping restore tests: dist/replica.js missing (run npm run build)');

/** Every limit raised: hashes/zsets/sets stay listpack/intset, lists get big listpack nodes. */
const COMPACT: Record<string, string> = {
  'hash-max-listpack-entries': '100000',
  'hash-max-listpack-value': '100000',
  'zset-max-listpack-entries': '100000',
  'zset-max-listpack-value': '100000',
  'set-max-intset-entries': '100000',
  'list-max-listpack-size': '-5',
  'stream-node-max-entries': '1000',
};

/** Every limit at its floor: hashtables, skiplists, one-entry quicklist nodes, tiny stream nodes. */
const BIG: Record<string, string> = {
  'hash-max-listpack-entries': '0',
  'hash-max-listpack-value': '0',
  'zset-max-listpack-entries': '0',
  'zset-max-listpack-value': '0',
  'set-max-intset-entries': '0',
  'list-max-listpack-size': '1',
  'stream-node-max-entries': '2',
};

const ENCODINGS = {
  compact: {
    config: COMPACT,
    expect: { 'hash:big': 'listpack', 'zset:big': 'listpack', 'set:int-big': 'intset' },
  },
  big: {
    config: BIG,
    expect: { 'hash:small': 'hashtable', 'zset:small': 'skiplist', 'set:int16': 'hashtable' },
  },
} as const;

async function objectEncoding(s: TestServer, key: string): Promise<string> {
  return String(await s.client.call('OBJECT', 'ENCODING', key));
}

async function totalKeys(s: TestServer): Promise<number> {
  const info = await s.client.info('keyspace');
  return [...info.matchAll(/keys=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
}

function expectClean(r: { code: number | null; stderr: string }) {
  expect(r.stderr).not.toMatch(/^error/m);
  expect(r.code).toBe(0);
}

describe.skipIf(!cliBuilt())('restore: every type, compact and big encodings, 0 diffs', () => {
  for (const [name, enc] of Object.entries(ENCODINGS)) {
    describe(name, () => {
      let src: TestServer;
      let rdb: string;
      const targets: TestServer[] = [];
      beforeAll(async () => {
        src = await startRedis(enc.config);
        await seedAllTypes(src.client, { functions: true, bigSize: 300 });
        for (const [key, want] of Object.entries(enc.expect))
          expect(await objectEncoding(src, key)).toBe(want);
        await src.client.save();
        rdb = `${src.dir}/dump.rdb`;
      });
      afterAll(async () => {
        await Promise.all([src?.stop(), ...targets.map((t) => t.stop())]);
      });

      for (const mode of [[], ['--no-restore']]) {
        it(`restore ${mode.join(' ') || '(RESTORE path)'} → compareServers reports 0 diffs`, async () => {
          const dst = await startRedis();
          targets.push(dst);
          const r = await runCli(['restore', '--rdb', rdb, '--target', dst.url, ...mode]);
          expectClean(r);
          expect(r.stderr).toMatch(/restored in/);
          const cmp = await compareServers(src.client, dst.client);
          expect(cmp.diffs).toEqual([]);
          expect(cmp.keysCompared).toBe(await totalKeys(src));
        });
      }
    });
  }
});

describe.skipIf(!cliBuilt())('restore: --on-conflict, --dbs, --db-map', () => {
  let src: TestServer;
  let rdb: string;
  const others: TestServer[] = [];
  beforeAll(async () => {
    src = await startRedis();
    await seedAllTypes(src.client, { dbs: [0, 5], bigSize: 50 });
    await src.client.save();
    rdb = `${src.dir}/dump.rdb`;
  });
  afterAll(async () => {
    await Promise.all([src?.stop(), ...others.map((t) => t.stop())]);
  });
  async function fresh(): Promise<TestServer> {
    const s = await startRedis();
    others.push(s);
    return s;
  }

  it('report (default): refuses a non-empty target DB, names keys and the flag, writes nothing', async () => {
    const dst = await fresh();
    await dst.client.set('str:plain', 'target value');
    await dst.client.set(Buffer.from([0x00, 0x0a, 0x41]), '1');
    const r = await runCli(['restore', '--rdb', rdb, '--target', dst.url]);
    expect(r.code).toBe(2);
    const e = parseCliError(r.stderr)!;
    expect(e.code).toBe('ERR_TARGET_NOT_EMPTY');
    expect(e.message).toContain('db 0 (2 keys)');
    expect(e.message).toContain('0:str:plain');
    expect(e.message).toContain('0:\\x00\\x0aA');
    expect(e.hint).toContain('--on-conflict overwrite');
    expect(e.hint).toContain('--on-conflict skip');
    expect(e.hasStack).toBe(false);
    expect(await dst.client.dbsize()).toBe(2);
    // Without --dbs every DB is reachable; with --dbs, a non-empty DB outside the selection does not block.
    const elsewhere = await fresh();
    await elsewhere.client.select(9);
    await elsewhere.client.set('x', '1');
    const blocked = await runCli(['restore', '--rdb', rdb, '--target', elsewhere.url]);
    expect(parseCliError(blocked.stderr)?.message).toContain('db 9 (1 keys), e.g. 9:x');
    expectClean(await runCli(['restore', '--rdb', rdb, '--target', elsewhere.url, '--dbs', '0,5']));
  });

  it('overwrite replaces existing keys; skip keeps them', async () => {
    const over = await fresh();
    await over.client.set('str:plain', 'target value');
    await over.client.set('target-only', 'stays');
    expectClean(await runCli(['restore', '--rdb', rdb, '--target', over.url, '--on-conflict', 'overwrite']));
    expect((await compareServers(src.client, over.client, { ignoreKeys: ['target-only'] })).diffs).toEqual(
      [],
    );
    expect(await over.client.get('target-only')).toBe('stays');

    const skip = await fresh();
    await skip.client.rpush('list:small', 'target list');
    const r = await runCli(['restore', '--rdb', rdb, '--target', skip.url, '--on-conflict', 'skip']);
    expectClean(r);
    expect(await skip.client.lrange('list:small', 0, -1)).toEqual(['target list']);
    const cmp = await compareServers(src.client, skip.client);
    expect(cmp.diffs.map((d) => `${d.db} ${d.key} ${d.kind}`)).toEqual(['0 list:small value']);
  });

  it('--match restores only matching key names', async () => {
    const dst = await fresh();
    expectClean(
      await runCli(['restore', '--rdb', rdb, '--target', dst.url, '--match', 'hash:*', '--dbs', '0']),
    );
    const keys = (await dst.client.keys('*')).sort();
    expect(keys).toEqual(['hash:big', 'hash:longval', 'hash:small']);
    const cmp = await compareServers(src.client, dst.client, { dbs: [0], functions: false });
    expect(cmp.diffs.every((d) => d.kind === 'missing' && !d.key.startsWith('hash:'))).toBe(true);
  });

  it('--dbs selects, --db-map remaps', async () => {
    const dst = await fresh();
    expectClean(
      await runCli(['restore', '--rdb', rdb, '--target', dst.url, '--dbs', '5', '--db-map', '5:7']),
    );
    expect(await dst.client.dbsize()).toBe(0); // db 0 not selected
    const cmp = await compareServers(src.client, dst.client, { dbs: [5], dbMap: { 5: 7 } });
    expect(cmp.diffs).toEqual([]);
    expect(cmp.keysCompared).toBeGreaterThan(20);
    const info = await dst.client.info('keyspace');
    expect(info).toMatch(/^db7:/m);
    expect(info).not.toMatch(/^db5:/m);
  });
});
