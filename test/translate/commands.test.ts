/**
 * translateCommand: what each replicated command becomes for targets of each version. Unit level
 * (the version matrix runs the same translations against real 5.0 / 6.2 / 7.0 / Valkey servers).
 */
import { describe, expect, it } from 'vitest';
import type { TargetCaps } from '../../src/sinks/types.js';
import { translateCommand } from '../../src/translate/index.js';

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
    expect(() => t(['ZRANGESTORE', 'd', 's', '0', '1'], 60000, ['zrangestore'])).toThrow(
      expect.objectContaining({
        code: 'ERR_TARGET_UNSUPPORTED',
        message: expect.stringMatching(/ZRANGESTORE.*6\.0\.0/),
      }),
    );
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
});
