/**
 * translateCommand: what each replicated command becomes for targets of each version. Unit level
 * (the version matrix runs the same translations against real 5.0 / 6.2 / 7.0 / Valkey servers).
 */
import { describe, expect, it } from 'vitest';
import { buildDumpPayload } from '../../src/rdb/index.js';
import type { TargetCaps } from '../../src/sinks/types.js';
import { NullSink } from '../../src/sinks/null.js';
import type { CommandRecord, KeyMeta } from '../../src/records.js';
import { TranslatingSink, translateCommand } from '../../src/translate/index.js';

const NOW = 1_700_000_000_000;
const caps = (versionNum: number, missing: string[] = []): TargetCaps => ({
  family: 'redis',
  versionNum,
  maxRdbVersion: 9,
  protoMaxBulkLen: 512 << 20,
  hasCommand: (n) => !missing.includes(n),
});
const t = (argv: string[], v: number, missing: string[] = [], skipFunctions = false) =>
  translateCommand(
    argv.map((a) => Buffer.from(a)),
    { target: caps(v, missing), now: () => NOW, skipFunctions },
  ).map((c) => c.map((b) => b.toString()));

describe('translateCommand', () => {
  it('relative expirations become absolute at receive time, on every target', () => {
    expect(t(['EXPIRE', 'k', '10'], 70000)).toEqual([['PEXPIREAT', 'k', String(NOW + 10_000)]]);
    expect(t(['pexpire', 'k', '250'], 50000)).toEqual([['PEXPIREAT', 'k', String(NOW + 250)]]);
    expect(t(['EXPIREAT', 'k', '1800000000'], 50000)).toEqual([['PEXPIREAT', 'k', '1800000000000']]);
    expect(t(['SETEX', 'k', '5', 'v'], 70000)).toEqual([['SET', 'k', 'v', 'PXAT', String(NOW + 5000)]]);
    expect(t(['PSETEX', 'k', '5', 'v'], 60000)).toEqual([
      ['SET', 'k', 'v'],
      ['PEXPIREAT', 'k', String(NOW + 5)],
    ]);
    expect(t(['SET', 'k', 'v', 'EX', '3', 'NX'], 70000)).toEqual([
      ['SET', 'k', 'v', 'NX', 'PXAT', String(NOW + 3000)],
    ]);
  });

  it('7.0+ forms pass through unchanged where the target has them', () => {
    expect(t(['SET', 'k', 'v', 'PXAT', '123'], 60200)).toEqual([['SET', 'k', 'v', 'PXAT', '123']]);
    expect(t(['SET', 'k', 'v'], 50000)).toEqual([['SET', 'k', 'v']]);
    expect(t(['SET', 'k', 'v', 'KEEPTTL'], 60000)).toEqual([['SET', 'k', 'v', 'KEEPTTL']]);
    expect(t(['XSETID', 's', '5-1', 'ENTRIESADDED', '9', 'MAXDELETEDID', '3-0'], 70000)).toHaveLength(1);
    expect(t(['HSET', 'h', 'f', 'v'], 50000)).toEqual([['HSET', 'h', 'f', 'v']]);
  });

  it('SPUBLISH (7.0+ sharded pub/sub, replicated by the source) is dropped on a target without it', () => {
    // Found by hand: a 7.4 source into 5.0 stopped with ERR_TARGET_UNSUPPORTED at the first SPUBLISH.
    // No client of such a target can be subscribed to a sharded channel, so nothing is lost; PUBLISH
    // would reach SUBSCRIBE clients of the same name, which SPUBLISH never does.
    expect(t(['SPUBLISH', 'ch', 'm'], 50000, ['spublish'])).toEqual([]);
    expect(t(['SPUBLISH', 'ch', 'm'], 70000)).toEqual([['SPUBLISH', 'ch', 'm']]);
  });

  it('older targets get equivalents', () => {
    expect(t(['SET', 'k', 'v', 'PXAT', '123'], 60000)).toEqual([
      ['SET', 'k', 'v'],
      ['PEXPIREAT', 'k', '123'],
    ]);
    expect(t(['SET', 'k', 'v', 'GET'], 60000)).toEqual([['SET', 'k', 'v']]);
    expect(t(['SET', 'k', 'v', 'KEEPTTL'], 50000)[0]![0]).toBe('EVAL');
    expect(t(['XGROUP', 'CREATECONSUMER', 's', 'g', 'c'], 60000)).toEqual([
      ['XCLAIM', 's', 'g', 'c', '0', '0-0', 'JUSTID'],
    ]);
    expect(t(['XGROUP', 'CREATE', 's', 'g', '$', 'ENTRIESREAD', '4'], 60200)).toEqual([
      ['XGROUP', 'CREATE', 's', 'g', '$'],
    ]);
    expect(t(['XSETID', 's', '5-1', 'ENTRIESADDED', '9', 'MAXDELETEDID', '3-0'], 60200)).toEqual([
      ['XSETID', 's', '5-1'],
    ]);
    expect(t(['LMOVE', 'a', 'b', 'RIGHT', 'LEFT'], 60000)).toEqual([['RPOPLPUSH', 'a', 'b']]);
    expect(t(['LMOVE', 'a', 'b', 'LEFT', 'RIGHT'], 60000)[0]!.slice(2)).toEqual([
      '2',
      'a',
      'b',
      'LEFT',
      'RIGHT',
    ]);
    expect(t(['BLMOVE', 'a', 'b', 'LEFT', 'RIGHT', '0'], 70000)).toEqual([
      ['LMOVE', 'a', 'b', 'LEFT', 'RIGHT'],
    ]);
    expect(t(['LPOP', 'l', '3'], 60000)).toEqual([
      ['LPOP', 'l'],
      ['LPOP', 'l'],
      ['LPOP', 'l'],
    ]);
    expect(t(['COPY', 'a', 'b', 'REPLACE'], 60000)[0]!.slice(2)).toEqual(['2', 'a', 'b', 'REPLACE']);
  });

  it('what cannot be translated stops with a named error; functions follow --skip-functions', () => {
    expect(() => t(['COPY', 'a', 'b', 'DB', '3'], 60000)).toThrow(/COPY … DB/);
    expect(() => t(['XACKDEL', 'x', 'g', 'IDS', '1', '1-0'], 60000, ['xackdel'])).toThrow(
      expect.objectContaining({
        code: 'ERR_TARGET_UNSUPPORTED',
        message: expect.stringMatching(/XACKDEL.*6\.0\.0/),
      }),
    );
    // Redis 8.2's new BITOP operations have no older form.
    expect(() => t(['BITOP', 'DIFF', 'd', 'a', 'b'], 80000)).toThrow(
      expect.objectContaining({
        code: 'ERR_TARGET_UNSUPPORTED',
        message: expect.stringMatching(/BITOP DIFF.*8\.0\.0/),
      }),
    );
    expect(t(['BITOP', 'AND', 'd', 'a', 'b'], 50000)).toEqual([['BITOP', 'AND', 'd', 'a', 'b']]);
    expect(() => t(['FUNCTION', 'LOAD', 'code'], 60200)).toThrow(
      expect.objectContaining({
        code: 'ERR_TARGET_NO_FUNCTIONS',
        hint: expect.stringMatching(/--skip-functions/),
      }),
    );
    expect(t(['FUNCTION', 'LOAD', 'code'], 60200, [], true)).toEqual([]);
    expect(t(['FUNCTION', 'LOAD', 'code'], 70000)).toEqual([['FUNCTION', 'LOAD', 'code']]);
  });

  it('hash field TTL commands on a target without them follow --hash-field-ttl', () => {
    const FT = ['hexpire', 'hpexpire', 'hexpireat', 'hpexpireat', 'hpersist', 'hsetex'];
    const ft = (argv: string[], mode: 'error' | 'strip' | 'skip-key') =>
      translateCommand(
        argv.map((a) => Buffer.from(a)),
        { target: caps(70000, FT), now: () => NOW, hashFieldTtl: mode },
      ).map((c) => c.map((b) => b.toString()));
    const expire = ['HPEXPIREAT', 'h', '1800000000000', 'FIELDS', '1', 'f'];
    expect(ft(expire, 'strip')).toEqual([]);
    expect(ft(['HPERSIST', 'h', 'FIELDS', '1', 'f'], 'strip')).toEqual([]);
    expect(
      ft(['HSETEX', 'h', 'FNX', 'PXAT', '1800000000000', 'FIELDS', '2', 'a', '1', 'b', '2'], 'strip'),
    ).toEqual([['HSET', 'h', 'a', '1', 'b', '2']]);
    for (const mode of ['error', 'skip-key'] as const)
      expect(() => ft(expire, mode)).toThrow(
        expect.objectContaining({
          code: 'ERR_TARGET_UNSUPPORTED',
          hint: expect.stringMatching(/--hash-field-ttl strip/),
        }),
      );
    // A target that has them gets them as they came.
    expect(t(expire, 70400)).toEqual([expire]);
  });

  // Issue #13: the forms 7.0+ / 6.2+ / Valkey 9 sources replicate (read from `redis-cli --replica`).
  it('expiry options (replicated as PEXPIREAT … NX|XX|GT|LT) are dropped before 7.0, kept after', () => {
    for (const o of ['NX', 'XX', 'GT', 'LT'])
      expect(t(['PEXPIREAT', 'k', '1800000000000', o], 60200)).toEqual([['PEXPIREAT', 'k', '1800000000000']]);
    expect(t(['PEXPIREAT', 'k', '1800000000000', 'GT'], 70000)).toEqual([
      ['PEXPIREAT', 'k', '1800000000000', 'GT'],
    ]);
    expect(t(['EXPIRE', 'k', '10', 'NX'], 50000)).toEqual([['PEXPIREAT', 'k', String(NOW + 10_000)]]);
  });

  it('ZADD GT/LT become a per-member script before 6.2; other flags pass', () => {
    expect(t(['ZADD', 'z', 'GT', 'CH', '10', 'a', '2', 'b'], 60200)).toEqual([
      ['ZADD', 'z', 'GT', 'CH', '10', 'a', '2', 'b'],
    ]);
    const out = t(['ZADD', 'z', 'XX', 'GT', 'CH', '10', 'a', '2', 'b'], 60000);
    expect(out).toHaveLength(1);
    expect(out[0]![0]).toBe('EVAL');
    expect(out[0]!.slice(2)).toEqual(['1', 'z', 'GT', 'XX', '', '10', 'a', '2', 'b']);
    expect(t(['ZADD', 'z', 'LT', 'INCR', '3', 'a'], 50000)[0]!.slice(2)).toEqual([
      '1',
      'z',
      'LT',
      '',
      'INCR',
      '3',
      'a',
    ]);
    expect(t(['ZADD', 'z', 'NX', 'CH', '1', 'a'], 50000)).toEqual([['ZADD', 'z', 'NX', 'CH', '1', 'a']]);
  });

  it('XADD/XTRIM: LIMIT goes with an exact trim, MINID before 6.2 is a script, NOMKSTREAM dropped', () => {
    // What 6.2+ sources send for `XADD x MAXLEN ~ 2 LIMIT 10 …`: refused from a client on every version.
    expect(t(['XADD', 'x', 'MAXLEN', '=', '5', 'LIMIT', '10', '8-0', 'f', 'v'], 70000)).toEqual([
      ['XADD', 'x', 'MAXLEN', '=', '5', '8-0', 'f', 'v'],
    ]);
    expect(t(['XADD', 'x', 'MAXLEN', '~', '5', 'LIMIT', '10', '8-0', 'f', 'v'], 70000)).toEqual([
      ['XADD', 'x', 'MAXLEN', '~', '5', 'LIMIT', '10', '8-0', 'f', 'v'],
    ]);
    expect(t(['XADD', 'x', 'MAXLEN', '~', '5', 'LIMIT', '10', '8-0', 'f', 'v'], 60000)).toEqual([
      ['XADD', 'x', 'MAXLEN', '~', '5', '8-0', 'f', 'v'],
    ]);
    expect(t(['XTRIM', 'x', 'MINID', '3-0'], 60200)).toEqual([['XTRIM', 'x', 'MINID', '3-0']]);
    const trim = t(['XTRIM', 'x', 'MINID', '=', '3'], 50000);
    expect(trim).toHaveLength(1);
    expect(trim[0]![0]).toBe('EVAL');
    expect(trim[0]!.slice(2)).toEqual(['1', 'x', '3-0']); // MINID 3 means 3-0
    const add = t(
      ['XADD', 'x', 'NOMKSTREAM', 'MINID', '4', 'LIMIT', '7', '9-0', 'f', 'v', 'LIMIT', 'w'],
      50000,
    );
    expect(add[0]).toEqual(['XADD', 'x', '9-0', 'f', 'v', 'LIMIT', 'w']); // a field named LIMIT stays
    expect(add[1]!.slice(2)).toEqual(['1', 'x', '4-0']);
    expect(t(['XADD', 'x', 'NOMKSTREAM', '9-0', 'f', 'v'], 60000)).toEqual([['XADD', 'x', '9-0', 'f', 'v']]);
    expect(t(['XADD', 'x', 'NOMKSTREAM', '9-0', 'f', 'v'], 60200)).toEqual([
      ['XADD', 'x', 'NOMKSTREAM', '9-0', 'f', 'v'],
    ]);
    expect(t(['XADD', 'x', 'MAXLEN', '3', '9-0', 'f', 'v'], 50000)).toEqual([
      ['XADD', 'x', 'MAXLEN', '3', '9-0', 'f', 'v'],
    ]);
  });

  it("Valkey's SET IFEQ and HGETDEL", () => {
    expect(t(['SET', 'k', 'v', 'IFEQ', 'old'], 70000)).toEqual([['SET', 'k', 'v']]);
    expect(t(['SET', 'k', 'v', 'IFEQ', 'old', 'PXAT', '5'], 60000)).toEqual([
      ['SET', 'k', 'v'],
      ['PEXPIREAT', 'k', '5'],
    ]);
    expect(t(['HGETDEL', 'h', 'FIELDS', '2', 'a', 'b'], 70400, ['hgetdel'])).toEqual([
      ['HDEL', 'h', 'a', 'b'],
    ]);
    expect(t(['HGETDEL', 'h', 'FIELDS', '1', 'a'], 90000)).toEqual([['HGETDEL', 'h', 'FIELDS', '1', 'a']]);
  });

  it('RESTORE: a payload the target loads stays RESTORE (relative TTL made absolute); a newer one is rewritten', () => {
    const body = Buffer.from([5, ...Buffer.from('hello')]); // RDB string: 6-bit length + bytes
    const v9 = buildDumpPayload(0, body, 9);
    const v11 = buildDumpPayload(0, body, 11);
    const r = (argv: (string | Buffer)[], v: number) =>
      translateCommand(
        argv.map((a) => Buffer.from(a)),
        { target: caps(v), now: () => NOW },
      ).map((c) => c.map((b) => b.toString('latin1')));
    const lat = (b: Buffer) => b.toString('latin1');
    expect(r(['RESTORE', 'k', '0', v9], 50000)).toEqual([['RESTORE', 'k', '0', lat(v9)]]);
    expect(r(['RESTORE', 'k', '5000', v9, 'REPLACE'], 50000)).toEqual([
      ['RESTORE', 'k', String(NOW + 5000), lat(v9), 'REPLACE', 'ABSTTL'],
    ]);
    expect(r(['RESTORE', 'k', '1800000000000', v9, 'ABSTTL'], 50000)).toEqual([
      ['RESTORE', 'k', '1800000000000', lat(v9), 'ABSTTL'],
    ]);
    expect(r(['RESTORE', 'k', String(NOW + 700), v9, 'ABSTTL', 'REPLACE', 'IDLETIME', '5'], 40000)).toEqual([
      ['RESTORE', 'k', '700', lat(v9), 'REPLACE'],
    ]);
    // caps() says maxRdbVersion 9: a v11 payload is "version or checksum are wrong" there.
    expect(r(['RESTORE', 'k', '0', v11], 70000)).toEqual([['SET', 'k', 'hello']]);
    expect(r(['RESTORE', 'k', '5000', v11, 'REPLACE', 'IDLETIME', '9'], 70000)).toEqual([
      ['DEL', 'k'],
      ['SET', 'k', 'hello'],
      ['PEXPIREAT', 'k', String(NOW + 5000)],
    ]);
    expect(r(['RESTORE', 'k', '1800000000000', v11, 'ABSTTL'], 70000)).toEqual([
      ['SET', 'k', 'hello'],
      ['PEXPIREAT', 'k', '1800000000000'],
    ]);
    // A stream payload (type 15, empty body is enough to reach the type check) into a target without streams.
    const stream = buildDumpPayload(15, Buffer.from([0, 0, 0, 0, 0, 0]), 9);
    expect(() =>
      translateCommand([Buffer.from('RESTORE'), Buffer.from('k'), Buffer.from('0'), stream] as Buffer[], {
        target: { ...caps(40000, ['xadd']), maxRdbVersion: 8 },
        now: () => NOW,
      }),
    ).toThrow(
      expect.objectContaining({
        code: 'ERR_TARGET_UNSUPPORTED',
        message: expect.stringMatching(/stream.*4\.0\.0/),
      }),
    );
    const bad = Buffer.from(v11);
    bad[3] ^= 1;
    expect(() => r(['RESTORE', 'k', '0', bad], 70000)).toThrow(
      expect.objectContaining({ code: 'ERR_TARGET_UNSUPPORTED', message: expect.stringMatching(/checksum/) }),
    );
  });

  it('6.2 *STORE commands and HGETEX get older equivalents', () => {
    expect(t(['ZRANGESTORE', 'd', 's', '0', '1'], 60200)).toEqual([['ZRANGESTORE', 'd', 's', '0', '1']]);
    expect(
      t(['ZRANGESTORE', 'd', 's', '(1', '5', 'BYSCORE', 'REV', 'LIMIT', '0', '2'], 60000, [
        'zrangestore',
      ])[0]!.slice(2),
    ).toEqual(['2', 'd', 's', 'BYSCORE', 'REV', '(1', '5', '0', '2']);
    expect(t(['ZDIFFSTORE', 'd', '2', 'a', 'b'], 50000, ['zdiffstore'])[0]!.slice(2)).toEqual([
      '3',
      'd',
      'a',
      'b',
    ]);
    expect(
      t(
        [
          'GEOSEARCHSTORE',
          'd',
          'g',
          'FROMMEMBER',
          'm',
          'BYRADIUS',
          '5',
          'km',
          'COUNT',
          '3',
          'ASC',
          'STOREDIST',
        ],
        50000,
        ['geosearchstore'],
      ),
    ).toEqual([['GEORADIUSBYMEMBER', 'g', 'm', '5', 'km', 'COUNT', '3', 'ASC', 'STOREDIST', 'd']]);
    expect(
      t(['GEOSEARCHSTORE', 'd', 'g', 'FROMLONLAT', '1', '2', 'BYRADIUS', '5', 'km'], 50000, [
        'geosearchstore',
      ]),
    ).toEqual([['GEORADIUS', 'g', '1', '2', '5', 'km', 'STORE', 'd']]);
    const noHgetex = ['hgetex'];
    expect(t(['HGETEX', 'h', 'PX', '500', 'FIELDS', '1', 'f'], 70400, noHgetex)).toEqual([
      ['HPEXPIREAT', 'h', String(NOW + 500), 'FIELDS', '1', 'f'],
    ]);
    expect(t(['HGETEX', 'h', 'PERSIST', 'FIELDS', '2', 'f', 'g'], 70400, noHgetex)).toEqual([
      ['HPERSIST', 'h', 'FIELDS', '2', 'f', 'g'],
    ]);
    expect(() => t(['HGETEX', 'h', 'EX', '5', 'FIELDS', '1', 'f'], 70000, ['hgetex', 'hpexpireat'])).toThrow(
      expect.objectContaining({
        code: 'ERR_TARGET_UNSUPPORTED',
        hint: expect.stringMatching(/--hash-field-ttl/),
      }),
    );
  });

  it('XCLAIM from a 7.0+ source into a target before 7.0 goes through a script that drops deleted entries from the PEL', () => {
    const argv = [
      'XCLAIM',
      'x',
      'g',
      'c',
      '0',
      '1-0',
      '2-0',
      'TIME',
      '5',
      'FORCE',
      'JUSTID',
      'LASTID',
      '2-0',
    ];
    expect(t(argv, 70000)).toEqual([argv]);
    // Unknown or 6.2 source: its XCLAIM of a deleted entry claims it, as older targets do.
    expect(t(argv, 60200)).toEqual([argv]);
    const out = translateCommand(
      argv.map((a) => Buffer.from(a)),
      { target: caps(60200), now: () => NOW, sourceVersion: 70000 },
    )[0]!.map((b) => b.toString());
    expect(out[0]).toBe('EVAL');
    expect(out.slice(2)).toEqual(['1', 'x', 'g', 'c', '0', '2', ...argv.slice(5)]);
  });

  it("the snapshot's RDB version tells the translator whether the source is 7.0+ (XCLAIM cleanup)", () => {
    const seen: string[] = [];
    class Rec extends NullSink {
      override command(rec: CommandRecord): void {
        seen.push(rec.argv[0]!.toString());
      }
    }
    const meta = (rdbVersion: number): KeyMeta => ({
      db: 0,
      key: Buffer.from('k'),
      type: 'string',
      rdbType: 0,
      rdbVersion,
      family: 'redis',
      expireAtMs: null,
      idleSeconds: null,
      freq: null,
      module: null,
    });
    const xclaim = ['XCLAIM', 'x', 'g', 'c', '0', '1-0', 'FORCE', 'JUSTID'].map((a) => Buffer.from(a));
    for (const [rdb, first] of [
      [9, 'XCLAIM'],
      [10, 'EVAL'],
    ] as const) {
      seen.length = 0;
      const sink = new TranslatingSink(new Rec(), { target: caps(60200), now: () => NOW });
      sink.command({ db: 0, argv: xclaim, offset: 1 }); // before any key: unknown source, as is
      sink.keyStart(meta(rdb));
      sink.command({ db: 0, argv: xclaim, offset: 2 });
      expect(seen).toEqual(['XCLAIM', first]);
    }
  });
});
