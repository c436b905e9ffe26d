/**
 * The issue #13 translations checked on real servers: the command as a 6.2+/7.0+ source applies it
 * (on Debian's 7.0) against its translation for an older target applied on that target (5.0.7), from
 * the same starting state, then the two compared. Random sequences, so the per-member decisions of
 * ZADD GT/LT/XX/INCR and the MINID trims meet the edge cases (equal scores, missing members, IDs
 * equal to MINID, MINID without a sequence). And RESTORE of 7.4 payloads (every type, a stream with
 * groups and a PEL, a hash with field TTLs per --hash-field-ttl) into older targets.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxRdbVersionFor } from '../../src/net/index.js';
import type { TargetCaps } from '../../src/sinks/types.js';
import { type TranslateContext, translateCommand } from '../../src/translate/index.js';
import { compareServers } from '../helpers/compare.js';
import { startRedis, type TestServer } from '../helpers/server.js';
import { serverBuilds, versionNum } from '../helpers/versions.js';

const builds = serverBuilds();
const r50 = builds.find((b) => b.name === 'redis-5.0');
const r74 = builds.find((b) => b.name === 'redis-7.4');

async function capsOf(c: Redis): Promise<TargetCaps> {
  const info = String(await c.info('server'));
  const version = /redis_version:([\d.]+)/.exec(info)![1]!;
  const v = versionNum(version);
  const names = new Set(((await c.call('COMMAND')) as unknown[][]).map((e) => String(e[0]).toLowerCase()));
  return {
    family: 'redis',
    versionNum: v,
    maxRdbVersion: maxRdbVersionFor('redis', v),
    protoMaxBulkLen: 512 << 20,
    hasCommand: (n) => names.has(n),
  };
}

/** A tiny deterministic PRNG (mulberry32): the same sequence on every run. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function apply(c: Redis, cmds: Buffer[][]): Promise<void> {
  for (const cmd of cmds) {
    try {
      await c.call(cmd[0]!.toString(), ...cmd.slice(1));
    } catch (e) {
      throw new Error(
        `${cmd
          .map((b) => b.toString().slice(0, 40))
          .join(' ')
          .slice(0, 300)}: ${e}`,
      );
    }
  }
}

describe.skipIf(!r50)('issue #13 translations on real servers (7.0 original vs 5.0 translation)', () => {
  let src: TestServer;
  let old: TestServer;
  let ctx: TranslateContext;

  beforeAll(async () => {
    src = await startRedis();
    old = await startRedis({}, { binary: r50!.path });
    ctx = { target: await capsOf(old.client), now: Date.now };
  });
  afterAll(async () => {
    await src?.stop();
    await old?.stop();
  });

  /** Run argv on the 7.0 source, and its 5.0 translation on the old target (when 7.0 accepted it). */
  async function both(argv: (string | number)[]): Promise<void> {
    const b = argv.map((a) => Buffer.from(String(a)));
    try {
      await src.client.call(String(argv[0]), ...argv.slice(1));
    } catch {
      return; // refused on the source: never replicated
    }
    await apply(old.client, translateCommand(b, ctx));
  }

  it('ZADD GT/LT (with XX, CH, INCR) decide member by member as 6.2+ does', async () => {
    const rand = rng(13);
    const members = ['a', 'b', 'c', 'd', 'e'];
    const score = () => String([1, 2, 3, 5, 8, '+inf', '-inf', 2.5][Math.floor(rand() * 8)]);
    for (let i = 0; i < 300; i++) {
      const flags: string[] = [];
      if (rand() < 0.5) flags.push(rand() < 0.5 ? 'GT' : 'LT');
      if (rand() < 0.3) flags.push('XX');
      if (rand() < 0.3) flags.push('CH');
      const pairs: string[] = [];
      if (rand() < 0.2) flags.push('INCR');
      const n = flags.includes('INCR') ? 1 : 1 + Math.floor(rand() * 3);
      for (let j = 0; j < n; j++) pairs.push(score(), members[Math.floor(rand() * members.length)]!);
      await both(['ZADD', `z${i % 3}`, ...flags, ...pairs]);
      if (i % 50 === 49) await both(['ZREM', `z${i % 3}`, 'a', 'c']);
    }
    const r = await compareServers(src.client, old.client);
    expect(r.diffs).toEqual([]);
    expect(r.keysCompared).toBe(3);
  });

  it('XTRIM/XADD MINID (ID with or without sequence, equal to an entry or not) and NOMKSTREAM', async () => {
    await src.client.flushall();
    await old.client.flushall();
    const rand = rng(7);
    let ms = 1;
    for (let i = 0; i < 200; i++) {
      const key = `x${i % 2}`;
      const r = rand();
      if (r < 0.6) {
        const id = `${ms}-${Math.floor(rand() * 3)}`;
        ms += rand() < 0.5 ? 1 : 0;
        const opts: (string | number)[] = [];
        if (rand() < 0.2) opts.push('NOMKSTREAM');
        // Exact trims only: 6.2+ sources replicate `~` rewritten as `=` (a client's `~` may trim less).
        if (rand() < 0.3) opts.push('MINID', ...(rand() < 0.5 ? ['='] : []), String(Math.max(0, ms - 5)));
        else if (rand() < 0.2) opts.push('MAXLEN', '=', 3);
        await both(['XADD', key, ...opts, id, 'f', `v${i}`]);
      } else {
        const at = Math.max(0, ms - Math.floor(rand() * 8));
        const minid = rand() < 0.5 ? String(at) : `${at}-1`;
        await both(['XTRIM', key, 'MINID', ...(rand() < 0.3 ? ['='] : []), minid]);
      }
    }
    const r = await compareServers(src.client, old.client);
    expect(r.diffs).toEqual([]);
    expect(r.keysCompared).toBeGreaterThan(0);
  });
  it('ZRANGESTORE, ZDIFFSTORE, GEOSEARCHSTORE store what 6.2+ stores', async () => {
    await src.client.flushall();
    await old.client.flushall();
    await both(['ZADD', 'zs', 1, 'a', 2, 'b', 2, 'c', 3.5, 'd', 7, 'e', '+inf', 'f', 0, 'g']);
    await both(['ZADD', 'lex', 0, 'a', 0, 'b', 0, 'c', 0, 'd', 0, 'e']);
    await both(['ZADD', 'zo', 5, 'b', 1, 'x']);
    await both(['SADD', 'so', 'd', 'y']);
    await both(['SADD', 'sfirst', 'a', 'b', 'q']);
    await both([
      'GEOADD',
      'geo',
      13.361389,
      38.115556,
      'Palermo',
      15.087269,
      37.502669,
      'Catania',
      12.5,
      41.9,
      'Roma',
    ]);
    const cases: (string | number)[][] = [
      ['ZRANGESTORE', 'd1', 'zs', 0, -1],
      ['ZRANGESTORE', 'd2', 'zs', 1, 3, 'REV'],
      ['ZRANGESTORE', 'd3', 'zs', '(1', 7, 'BYSCORE'],
      ['ZRANGESTORE', 'd4', 'zs', '+inf', 2, 'BYSCORE', 'REV', 'LIMIT', 1, 2],
      ['ZRANGESTORE', 'd5', 'lex', '[b', '(e', 'BYLEX'],
      ['ZRANGESTORE', 'd6', 'lex', '+', '-', 'BYLEX', 'REV', 'LIMIT', 0, 2],
      ['ZRANGESTORE', 'd1', 'zs', 100, 200], // empty: d1 deleted
      ['ZRANGESTORE', 'd7', 'nokey', 0, -1],
      ['ZDIFFSTORE', 'df1', 3, 'zs', 'zo', 'so'],
      ['ZDIFFSTORE', 'df2', 2, 'sfirst', 'zo'],
      ['ZDIFFSTORE', 'df3', 1, 'zs'],
      ['ZDIFFSTORE', 'zs', 2, 'zs', 'so'], // destination among the inputs
      ['GEOSEARCHSTORE', 'g1', 'geo', 'FROMLONLAT', 15, 37, 'BYRADIUS', 200, 'km', 'ASC'],
      [
        'GEOSEARCHSTORE',
        'g2',
        'geo',
        'FROMMEMBER',
        'Palermo',
        'BYRADIUS',
        600,
        'km',
        'COUNT',
        2,
        'DESC',
        'STOREDIST',
      ],
      ['GEOSEARCHSTORE', 'g3', 'geo', 'FROMMEMBER', 'Roma', 'BYRADIUS', 1, 'm', 'COUNT', 1],
    ];
    for (const cmd of cases) await both(cmd);
    const r = await compareServers(src.client, old.client);
    expect(r.diffs).toEqual([]);
    expect(r.keysCompared).toBeGreaterThan(12);
    expect(() =>
      translateCommand(
        ['GEOSEARCHSTORE', 'g', 'geo', 'FROMLONLAT', '15', '37', 'BYBOX', '400', '400', 'km'].map((a) =>
          Buffer.from(a),
        ),
        ctx,
      ),
    ).toThrow(
      expect.objectContaining({
        code: 'ERR_TARGET_UNSUPPORTED',
        message: expect.stringMatching(/BYBOX.*5\.0\.7/),
      }),
    );
  });

  it("XCLAIM of a deleted pending entry (7.0+'s PEL cleanup) drops it from the PEL", async () => {
    ctx = { ...ctx, sourceVersion: 70015 };
    await src.client.flushall();
    await old.client.flushall();
    for (const cmd of [
      ['XADD', 'xc', '1-0', 'f', 'v'],
      ['XADD', 'xc', '2-0', 'f', 'v'],
      ['XADD', 'xc', '3-0', 'f', 'v'],
      ['XGROUP', 'CREATE', 'xc', 'g', '0'],
      // What XREADGROUP replicates on every version.
      [
        'XCLAIM',
        'xc',
        'g',
        'c',
        0,
        '1-0',
        'TIME',
        1_700_000_000_000,
        'RETRYCOUNT',
        1,
        'FORCE',
        'JUSTID',
        'LASTID',
        '1-0',
      ],
      [
        'XCLAIM',
        'xc',
        'g',
        'c',
        0,
        '2-0',
        'TIME',
        1_700_000_000_000,
        'RETRYCOUNT',
        1,
        'FORCE',
        'JUSTID',
        'LASTID',
        '2-0',
      ],
      [
        'XCLAIM',
        'xc',
        'g',
        'c',
        0,
        '3-0',
        'TIME',
        1_700_000_000_000,
        'RETRYCOUNT',
        1,
        'FORCE',
        'JUSTID',
        'LASTID',
        '3-0',
      ],
      ['XDEL', 'xc', '1-0'],
      // What a 7.0 source replicates for XAUTOCLAIM xc g c2 0 0-0 after that XDEL.
      [
        'XCLAIM',
        'xc',
        'g',
        'c',
        0,
        '1-0',
        'TIME',
        1_700_000_000_000,
        'RETRYCOUNT',
        1,
        'FORCE',
        'JUSTID',
        'LASTID',
        '3-0',
      ],
      [
        'XCLAIM',
        'xc',
        'g',
        'c2',
        0,
        '2-0',
        'TIME',
        1_700_000_000_001,
        'RETRYCOUNT',
        2,
        'FORCE',
        'JUSTID',
        'LASTID',
        '3-0',
      ],
    ] as (string | number)[][])
      await both(cmd);
    // id, owner, delivery count (the idle time differs by the milliseconds between the servers' clocks).
    const pel = async (c: Redis) =>
      ((await c.call('XPENDING', 'xc', 'g', '-', '+', 10)) as unknown[][]).map((e) => [e[0], e[1], e[3]]);
    expect(await pel(old.client)).toEqual(await pel(src.client));
    expect(await pel(old.client)).toEqual([
      ['2-0', 'c2', 2],
      ['3-0', 'c', 1],
    ]);
  });
});

describe.skipIf(!r74 || !r50)('RESTORE of 7.4 payloads into older targets', () => {
  let src: TestServer;
  let t70: TestServer;
  let t50: TestServer;

  beforeAll(async () => {
    src = await startRedis({}, { binary: r74!.path });
    t70 = await startRedis();
    t50 = await startRedis({}, { binary: r50!.path });
  });
  afterAll(async () => {
    await src?.stop();
    await t70?.stop();
    await t50?.stop();
  });

  it('every type, a stream with groups and a PEL, big values in bounded commands, TTLs', async () => {
    const c = src.client;
    await c.set('s', 'string-value');
    await c.set('n', '12345');
    await c.rpush('l', ...Array.from({ length: 2000 }, (_, i) => `e${i}`));
    await c.sadd('st', 'a', 'b', '3');
    await c.sadd('si', '1', '2', '3');
    await c.zadd('z', 1, 'a', 2.5, 'b', '+inf', 'c');
    await c.hset('h', 'f', 'v', 'g', 'w');
    for (let i = 1; i <= 5; i++) await c.call('XADD', 'x', `${i}-0`, 'f', `v${i}`);
    await c.call('XDEL', 'x', '2-0');
    await c.call('XGROUP', 'CREATE', 'x', 'g', '0');
    await c.call('XREADGROUP', 'GROUP', 'g', 'alice', 'COUNT', 2, 'STREAMS', 'x', '>');
    await c.call('XGROUP', 'CREATECONSUMER', 'x', 'g', 'bob');
    const keys = ['s', 'n', 'l', 'st', 'si', 'z', 'h', 'x'];
    for (const t of [t70, t50]) {
      const ctx: TranslateContext = { target: await capsOf(t.client), now: Date.now };
      for (const k of keys) {
        const p = await c.dumpBuffer(k);
        const out = translateCommand([Buffer.from('RESTORE'), Buffer.from(k), Buffer.from('0'), p], ctx);
        expect(out[0]![0]!.toString(), `${k} into ${ctx.target.versionNum}`).not.toBe('RESTORE');
        expect(Math.max(...out.map((cmd) => cmd.length))).toBeLessThanOrEqual(2 + 512 * 2);
        await apply(t.client, out);
      }
      // TTL and REPLACE over a key of another type.
      await t.client.sadd('rep', 'in-the-way');
      const p = await c.dumpBuffer('s');
      const at = Date.now() + 600_000;
      await apply(
        t.client,
        translateCommand(
          ['RESTORE', 'rep', String(at), p, 'ABSTTL', 'REPLACE'].map((a) => Buffer.from(a)),
          ctx,
        ),
      );
      await c.set('rep', 'string-value', 'PXAT', at);
      const r = await compareServers(src.client, t.client);
      expect(r.diffs, `into ${ctx.target.versionNum}`).toEqual([]);
      expect(r.keysCompared).toBe(keys.length + 1);
      await c.del('rep');
    }
  });

  it('a hash with field TTLs follows --hash-field-ttl (error stops before writing, strip, drop)', async () => {
    await src.client.flushall();
    await src.client.hset('fh', 'keep', '1', 'timed', '2');
    await src.client.call('HEXPIRE', 'fh', 600, 'FIELDS', 1, 'timed');
    const p = await src.client.dumpBuffer('fh');
    const argv = ['RESTORE', 'fh2', '0', p].map((a) => Buffer.from(a));
    const target = await capsOf(t70.client);
    expect(() => translateCommand(argv, { target, now: Date.now })).toThrow(
      expect.objectContaining({
        code: 'ERR_TARGET_UNSUPPORTED',
        hint: expect.stringMatching(/--hash-field-ttl/),
      }),
    );
    expect(() => translateCommand(argv, { target, now: Date.now, hashFieldTtl: 'skip-key' })).toThrow(
      expect.objectContaining({ code: 'ERR_TARGET_UNSUPPORTED' }),
    );
    await apply(t70.client, translateCommand(argv, { target, now: Date.now, hashFieldTtl: 'strip' }));
    expect(await t70.client.hgetall('fh2')).toEqual({ keep: '1', timed: '2' });
    await t70.client.del('fh2');
    await apply(t70.client, translateCommand(argv, { target, now: Date.now, hashFieldTtl: 'drop' }));
    expect(await t70.client.hgetall('fh2')).toEqual({ keep: '1' });
    // Into 7.4 itself the payload goes as RESTORE, field TTLs and all.
    const same = translateCommand(argv, { target: await capsOf(src.client), now: Date.now });
    expect(same).toEqual([argv]);
  });
});

const vk9 = builds.find((b) => b.name === 'valkey-9');

describe.skipIf(!vk9 || !r74)('HSETEX (Valkey 9) into Redis 7.4, which has field TTLs but no HSETEX', () => {
  let vk: TestServer;
  let r: TestServer;
  beforeAll(async () => {
    vk = await startRedis({}, { binary: vk9!.path });
    r = await startRedis({}, { binary: r74!.path });
  });
  afterAll(async () => {
    await vk?.stop();
    await r?.stop();
  });

  it('sets the fields and their TTLs as Valkey does (PXAT, EX, KEEPTTL, none, FNX)', async () => {
    const ctx: TranslateContext = { target: await capsOf(r.client), now: Date.now };
    expect(ctx.target.hasCommand('hsetex')).toBe(false);
    const at = Date.now() + 600_000;
    const cmds: (string | number)[][] = [
      ['HSET', 'h', 'plain', '0'],
      ['HSETEX', 'h', 'PXAT', at, 'FIELDS', 2, 'a', '1', 'b', '2'],
      ['HSETEX', 'h', 'EX', 900, 'FIELDS', 1, 'c', '3'],
      ['HSETEX', 'h', 'KEEPTTL', 'FIELDS', 2, 'a', 'one', 'plain', 'zero'],
      ['HSETEX', 'h', 'FIELDS', 1, 'b', 'two'], // no TTL option: b's TTL goes
      ['HSETEX', 'h', 'FNX', 'PXAT', at + 5000, 'FIELDS', 1, 'd', '4'],
    ];
    for (const cmd of cmds) {
      await vk.client.call(String(cmd[0]), ...cmd.slice(1));
      await apply(
        r.client,
        translateCommand(
          cmd.map((a) => Buffer.from(String(a))),
          ctx,
        ),
      );
    }
    const fields = ['plain', 'a', 'b', 'c', 'd'];
    expect(await r.client.hgetall('h')).toEqual(await vk.client.hgetall('h'));
    const ttl = async (c: Redis) =>
      (await c.call('HPEXPIRETIME', 'h', 'FIELDS', fields.length, ...fields)) as number[];
    const want = await ttl(vk.client);
    const got = await ttl(r.client);
    expect(want.map((t) => t > 0)).toEqual([false, true, false, true, true]);
    expect(want[1]).toBe(at);
    // c's EX 900 was made absolute on each side a few milliseconds apart.
    for (let i = 0; i < fields.length; i++)
      expect(Math.abs(got[i]! - want[i]!), fields[i]).toBeLessThanOrEqual(1000);
  });
});
