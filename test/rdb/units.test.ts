/**
 * Unit tests per encoding on hand-built bytes (docs/protocol.md §2): lengths, int/LZF strings,
 * legacy and binary doubles, ziplist (every int encoding incl. int24 and immediates), listpack
 * (every encoding incl. 13-bit ints), zipmap, intset, module ids, opcodes, errors, CRC64, DUMP.
 */
import { describe, expect, it } from 'vitest';
import type { KeyMeta, ValueChunk } from '../../src/records.js';
import {
  buildDumpPayload,
  Crc64,
  crc64,
  decodeDumpPayload,
  decodeModuleId,
  lzfDecompress,
  RdbDecoder,
  type RdbDecoderOptions,
  RdbError,
} from '../../src/rdb/index.js';
import { B, i64le, len, listpack, rdb, str, u32le, ziplist } from './build.js';
import { ModelVisitor } from './helpers.js';

function decode(file: Buffer, opts: RdbDecoderOptions = {}): ModelVisitor {
  const m = new ModelVisitor();
  const d = new RdbDecoder(m, opts);
  d.write(file);
  d.end();
  return m;
}

function errOf(fn: () => unknown): RdbError {
  try {
    fn();
  } catch (e) {
    if (e instanceof RdbError) return e;
    throw e;
  }
  throw new Error('expected an RdbError');
}

const texts = (bs: Buffer[]): string[] => bs.map((b) => b.toString('latin1'));

/** The single key of a one-key file. */
function only(m: ModelVisitor) {
  expect(m.order.length).toBe(1);
  return m.order[0]!;
}

/** Bit-by-bit CRC-64 Jones straight from protocol.md §2.12, as an independent reference. */
function crcRef(buf: Buffer): bigint {
  let crc = 0n;
  for (const b of buf) {
    crc ^= BigInt(b);
    for (let k = 0; k < 8; k++) crc = crc & 1n ? (crc >> 1n) ^ 0x95ac9329ac4bc9b5n : crc >> 1n;
  }
  return crc;
}

describe('CRC64', () => {
  it('has the Redis check value', () => {
    expect(crc64(Buffer.from('123456789'))).toBe(0xe9c6d914c4b8d9can);
  });
  it('matches the bitwise reference on random data, whole and incremental', () => {
    for (let n = 0; n < 200; n += 7) {
      const buf = Buffer.from(Array.from({ length: n * 3 + 1 }, (_, i) => (i * 131 + n * 17) & 255));
      const want = crcRef(buf);
      expect(crc64(buf)).toBe(want);
      const c = new Crc64();
      c.update(buf, 0, n);
      c.update(buf, n, buf.length);
      expect(c.value()).toBe(want);
      expect(crc64(buf.subarray(n), crc64(buf.subarray(0, n)))).toBe(want);
    }
  });
});

describe('LZF', () => {
  it('decodes literals and overlapping back-references', () => {
    // "abc" literal run (ctrl 2), then copy 6 bytes from distance 3 (ctrl (6-2)<<5 | 0, off 2).
    expect(lzfDecompress(Buffer.from([2, 97, 98, 99, 0x80, 2]), 9).toString()).toBe('abcabcabc');
    // long back-reference: len 7 + extra byte 10 → 7+10+2 = 19 bytes of 'a'
    expect(lzfDecompress(Buffer.from([0, 97, 0xe0, 10, 0]), 20).toString()).toBe('a'.repeat(20));
  });
  it('rejects corrupt input with typed errors', () => {
    expect(errOf(() => lzfDecompress(Buffer.from([0x80, 5]), 10)).code).toBe('ERR_RDB_CORRUPT');
    expect(errOf(() => lzfDecompress(Buffer.from([5, 1, 2]), 6)).code).toBe('ERR_RDB_CORRUPT');
    expect(errOf(() => lzfDecompress(Buffer.from([0, 97]), 2)).code).toBe('ERR_RDB_CORRUPT');
    expect(errOf(() => lzfDecompress(Buffer.from([0, 97]), 1e9)).message).toMatch(/cannot expand/);
  });
  it('reads an LZF-encoded RDB string', () => {
    const c = Buffer.from([0, 97, 0xe0, 10, 0]);
    const f = rdb('REDIS0006', [B([0], str('k'), [0xc3], len(c.length), len(20), c)]);
    expect(only(decode(f)).value).toEqual({ type: 'string', value: Buffer.from('a'.repeat(20)) });
  });
});

describe('lengths and strings', () => {
  it('reads 6, 14, 32 and 64-bit lengths', () => {
    for (const w of [6, 14, 32, 64] as const) {
      const f = rdb('REDIS0009', [
        B([0xfe], len(3, w), [0], str('key', w), str('v'.repeat(40), w === 6 ? 14 : w)),
      ]);
      const k = only(decode(f));
      expect(k.meta.db).toBe(3);
      expect(k.meta.key.toString()).toBe('key');
      expect(k.value).toEqual({ type: 'string', value: Buffer.from('v'.repeat(40)) });
    }
  });
  it('reads int8, int16, int32 encoded strings', () => {
    const f = rdb('REDIS0006', [
      B([0], str('a'), [0xc0, 0x80]),
      B([0], str('b'), [0xc1], [0x00, 0x80]),
      B([0], str('c'), [0xc2], [0xff, 0xff, 0xff, 0x7f]),
      B([0], [0xc0, 7], [0xc2], [0, 0, 0, 0x80]),
    ]);
    const m = decode(f);
    expect(
      m.order.map((k) => [k.meta.key.toString(), (k.value as { value: Buffer }).value.toString()]),
    ).toEqual([
      ['a', '-128'],
      ['b', '-32768'],
      ['c', '2147483647'],
      ['7', '-2147483648'],
    ]);
  });
  it('rejects a bad length byte and a bad string encoding', () => {
    expect(errOf(() => decode(rdb('REDIS0009', [B([0xfe, 0x90])]))).message).toMatch(/expected a length/);
    expect(errOf(() => decode(rdb('REDIS0009', [B([0], [0xc4])]))).message).toMatch(/string encoding 0xc4/);
  });
  it('a declared length beyond maxBlobBytes fails at once, before any data arrives', () => {
    const d = new RdbDecoder(new ModelVisitor(), { maxBlobBytes: 1 << 20 });
    const e = errOf(() => d.write(B('REDIS0009', [0xfa], len(2n ** 40n, 64))));
    expect(e.code).toBe('ERR_RDB_CORRUPT');
    expect(e.message).toMatch(/maxBlobBytes/);
    expect(e.offset).toBe(19); // where the declared bytes would start
  });
});

describe('doubles', () => {
  it('legacy text doubles incl. NaN/±inf markers (type 3)', () => {
    const f = rdb('REDIS0006', [
      B(
        [3],
        str('z'),
        len(5),
        str('a'),
        [253],
        str('b'),
        [254],
        str('c'),
        [255],
        str('d'),
        str('3.5'),
        str('e'),
        str('-0'),
      ),
    ]);
    const v = only(decode(f)).value;
    if (v.type !== 'zset') throw new Error('zset expected');
    expect(v.value.get('a')).toBeNaN();
    expect(v.value.get('b')).toBe(Number.POSITIVE_INFINITY);
    expect(v.value.get('c')).toBe(Number.NEGATIVE_INFINITY);
    expect(v.value.get('d')).toBe(3.5);
    expect(Object.is(v.value.get('e'), -0)).toBe(true);
    expect(errOf(() => decode(rdb('REDIS0006', [B([3], str('z'), len(1), str('a'), str('x1'))]))).code).toBe(
      'ERR_RDB_CORRUPT',
    );
  });
  it('binary doubles (type 5)', () => {
    const d = Buffer.alloc(8);
    d.writeDoubleLE(-1.5e300);
    const inf = Buffer.alloc(8);
    inf.writeDoubleLE(Number.NEGATIVE_INFINITY);
    const v = only(decode(rdb('REDIS0009', [B([5], str('z'), len(2), str('a'), d, str('b'), inf)]))).value;
    expect(v).toEqual({
      type: 'zset',
      value: new Map([
        ['a', -1.5e300],
        ['b', Number.NEGATIVE_INFINITY],
      ]),
    });
  });
});

describe('ziplist', () => {
  it('decodes every integer encoding, int24 and the 0–12 immediates, and all string widths', () => {
    const i16 = Buffer.alloc(2);
    i16.writeInt16LE(-300);
    const i32 = Buffer.alloc(4);
    i32.writeInt32LE(-70000);
    const i24min = Buffer.from([0x00, 0x00, 0x80]); // -8388608
    const i24max = Buffer.from([0xff, 0xff, 0x7f]); // 8388607
    const long = 'x'.repeat(100);
    const huge = 'y'.repeat(300);
    const s32 = Buffer.alloc(5);
    s32[0] = 0x80;
    s32.writeUInt32BE(300, 1);
    const entries = [
      B([0xc0], i16),
      B([0xd0], i32),
      B([0xe0], i64le(-(2n ** 62n))),
      B([0xe0], i64le(2n ** 63n - 1n)),
      B([0xf0], i24min),
      B([0xf0], i24max),
      B([0xfe, 0x85]),
      ...Array.from({ length: 13 }, (_, i) => Buffer.from([0xf1 + i])),
      B([0x03], 'abc'),
      B([0x40 | (long.length >> 8), long.length & 255], long),
      B(s32, huge),
    ];
    const zl = ziplist(entries);
    const v = only(decode(rdb('REDIS0006', [B([10], str('l'), str(zl))]))).value;
    expect(v.type).toBe('list');
    expect(texts((v as { value: Buffer[] }).value)).toEqual([
      '-300',
      '-70000',
      String(-(2n ** 62n)),
      '9223372036854775807',
      '-8388608',
      '8388607',
      '-123',
      ...Array.from({ length: 13 }, (_, i) => String(i)),
      'abc',
      long,
      huge,
    ]);
  });
  it('uses 5-byte prevlen after a long entry, and reads zset/hash ziplists as pairs', () => {
    const big = 'z'.repeat(260);
    const zl = ziplist([B([0x40 | 1, 4], big), B([0xf3]), B([0x01], 'm'), B([0x04], '-2.5')]);
    const v = only(decode(rdb('REDIS0006', [B([12], str('z'), str(zl))]))).value;
    expect(v).toEqual({
      type: 'zset',
      value: new Map([
        [big, 2],
        ['m', -2.5],
      ]),
    });
    const h = only(
      decode(rdb('REDIS0006', [B([13], str('h'), str(ziplist([B([1], 'f'), B([0xf2])])))])),
    ).value;
    expect(h.type === 'hash' && h.value.get('f')?.toString()).toBe('1');
  });
  it('rejects a bad header, a bad encoding and an odd pair count', () => {
    const zl = ziplist([B([0xc5], [0])]);
    expect(errOf(() => decode(rdb('REDIS0006', [B([10], str('l'), str(zl))]))).message).toMatch(
      /invalid integer encoding byte 0xc5/,
    );
    const bad = Buffer.from(ziplist([B([1], 'a')]));
    bad.writeUInt32LE(99, 0);
    const e = errOf(() => decode(rdb('REDIS0006', [B([0xfe, 3], [10], str('l\x01'), str(bad))])));
    expect(e.message).toMatch(/header declares 99 bytes/);
    // The error names the key being decoded (printable), its DB and where its type byte is.
    expect(e.message).toMatch(/in key "l\\x01" of db 3 \(type 10, starting at byte 11\)/);
    expect(errOf(() => decode(rdb('REDIS0006', [B([13], str('h'), str(ziplist([B([1], 'f')])))]))).code).toBe(
      'ERR_RDB_CORRUPT',
    );
  });
});

describe('listpack', () => {
  it('decodes every encoding, including 13-bit signed ints and 64-bit ints beyond 2^53', () => {
    const i16 = Buffer.alloc(2);
    i16.writeInt16LE(-20000);
    const i24 = Buffer.from([0x01, 0x00, 0x80]);
    const i32 = Buffer.alloc(4);
    i32.writeInt32LE(2147483647);
    const s12 = 'q'.repeat(200);
    const s32 = 'w'.repeat(5000);
    const s32h = Buffer.alloc(5);
    s32h[0] = 0xf0;
    s32h.writeUInt32LE(s32.length, 1);
    const lp = listpack([
      B([0x05]),
      B([0x7f]),
      B([0x83], 'abc'),
      B([0xc0 | 0x10, 0x00]), // 13-bit: 0x1000 = -4096
      B([0xc0 | 0x0f, 0xff]), // 4095
      B([0xc0 | 0x1f, 0xff]), // -1
      B([0xe0 | (s12.length >> 8), s12.length & 255], s12),
      B(s32h, s32),
      B([0xf1], i16),
      B([0xf2], i24),
      B([0xf3], i32),
      B([0xf4], i64le(-(2n ** 63n))),
      B([0xf4], i64le(2n ** 53n + 1n)),
    ]);
    const v = only(decode(rdb('REDIS0010', [B([18], str('l'), len(1), len(2), str(lp))]))).value;
    expect(texts((v as { value: Buffer[] }).value)).toEqual([
      '5',
      '127',
      'abc',
      '-4096',
      '4095',
      '-1',
      s12,
      s32,
      '-20000',
      '-8388607',
      '2147483647',
      '-9223372036854775808',
      '9007199254740993',
    ]);
  });
  it('reads PLAIN quicklist nodes, set/hash/zset listpacks and ±inf text scores', () => {
    const v = only(
      decode(
        rdb('REDIS0010', [
          B([18], str('l'), len(2), len(1), str('plain!'), len(2), str(listpack([B([0x01])]))),
        ]),
      ),
    ).value;
    expect(texts((v as { value: Buffer[] }).value)).toEqual(['plain!', '1']);
    const z = only(
      decode(
        rdb('REDIS0010', [
          B(
            [17],
            str('z'),
            str(listpack([B([0x81], 'a'), B([0x83], 'inf'), B([0x81], 'b'), B([0x84], '-inf')])),
          ),
        ]),
      ),
    ).value;
    expect(z).toEqual({
      type: 'zset',
      value: new Map([
        ['a', Number.POSITIVE_INFINITY],
        ['b', Number.NEGATIVE_INFINITY],
      ]),
    });
    expect(
      errOf(() => decode(rdb('REDIS0010', [B([20], str('s'), str(listpack([B([0xf5])])))]))).message,
    ).toMatch(/invalid entry encoding byte 0xf5/);
  });
});

describe('zipmap and intset', () => {
  it('zipmap with a 254+ byte key (5-byte length) and free bytes', () => {
    const k = 'k'.repeat(300);
    const zm = B([2], [0xfe], u32le(300), k, [2, 3], 'ab', 'xyz', [1], 'f', [1, 0], 'v', [0xff]);
    const v = only(decode(rdb('REDIS0003', [B([9], str('h'), str(zm))]))).value;
    expect(v.type).toBe('hash');
    if (v.type === 'hash') {
      expect(v.value.get(k)?.toString()).toBe('ab');
      expect(v.value.get('f')?.toString()).toBe('v');
    }
  });
  it('intset of width 2, 4 and 8', () => {
    for (const [w, vals] of [
      [2, [-32768, 5, 32767]],
      [4, [-2147483648, 70000]],
      [8, [-(2n ** 63n), 2n ** 62n]],
    ] as const) {
      const body = Buffer.alloc(8 + vals.length * w);
      body.writeUInt32LE(w, 0);
      body.writeUInt32LE(vals.length, 4);
      vals.forEach((x, i) => {
        if (w === 2) body.writeInt16LE(Number(x), 8 + i * 2);
        else if (w === 4) body.writeInt32LE(Number(x), 8 + i * 4);
        else body.writeBigInt64LE(BigInt(x), 8 + i * 8);
      });
      const v = only(decode(rdb('REDIS0006', [B([11], str('s'), str(body))]))).value;
      expect(texts((v as { value: Buffer[] }).value)).toEqual(vals.map(String));
    }
  });
});

describe('opcodes and metadata', () => {
  it('EXPIRETIME (seconds ×1000), EXPIRETIME_MS, IDLE, FREQ apply to the next key only', () => {
    const f = rdb('REDIS0009', [
      B([0xfd], [0x10, 0x27, 0, 0], [0], str('a'), str('1')),
      B([0xfc], i64le(1700000000123n), [0xf8], len(77), [0], str('b'), str('2')),
      B([0xf9, 9], [0], str('c'), str('3')),
      B([0], str('d'), str('4')),
    ]);
    const m = decode(f).order.map((k) => [k.meta.expireAtMs, k.meta.idleSeconds, k.meta.freq]);
    expect(m).toEqual([
      [10_000_000, null, null],
      [1700000000123, 77, null],
      [null, null, 9],
      [null, null, null],
    ]);
  });
  it('AUX anywhere, RESIZEDB, SLOT_INFO, Redis Enterprise 107/121, FUNCTION2, FUNCTION_PRE_GA', () => {
    const events: string[] = [];
    const v = new ModelVisitor();
    const f = rdb('REDIS0012', [
      B([0xfa], str('redis-ver'), str('7.4.0')),
      B([0xf5], str('#!lua name=x\nreturn 1')),
      B([0xf6], str('lib1'), str('LUA'), len(1), str('desc'), str('redis.register_function("f", g)')),
      B([0xfe, 0], [0xfb], len(2), len(1), [0xfa], str('bigdb'), str('1')),
      B([0xf4], len(7638), len(1), len(0), [107], len(5), [121], len(9)),
      B([0], str('k'), str('v'), [0xfa], str('mvcc'), str('1'), [0], str('k2'), str('v2')),
    ]);
    const d = new RdbDecoder(
      Object.assign(v, { header: (m: string, n: number) => events.push(`${m}${n}`) }),
      {},
    );
    d.write(f);
    d.end();
    expect(events).toEqual(['REDIS12']);
    expect([...v.auxFields.keys()]).toEqual(['redis-ver', 'bigdb', 'mvcc']);
    expect(v.resizes).toEqual([[2, 1]]);
    expect(v.slots).toEqual([[7638, 1, 0]]);
    expect(v.functions.map(String)).toEqual([
      '#!lua name=x\nreturn 1',
      '#!lua name=lib1\nredis.register_function("f", g)',
    ]);
    expect(v.order.map((k) => k.meta.key.toString())).toEqual(['k', 'k2']);
    expect(v.crc).toBe('ok');
  });
  it('MODULE_AUX and module values: walked, delivered raw, module name from the 64-bit id', () => {
    const name = 'ReJSON-RL';
    const cs = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    let id = 0n;
    for (const ch of name) id = (id << 6n) | BigInt(cs.indexOf(ch));
    id = (id << 10n) | 3n;
    expect(decodeModuleId(Number(id >> 32n), Number(id & 0xffffffffn))).toEqual({ name, encver: 3 });
    const f32 = Buffer.alloc(4);
    const f64 = Buffer.alloc(8);
    const modBody = B(len(2), len(42), len(3), f32, len(4), f64, len(5), str('json'), len(0));
    const auxes: [string, Buffer][] = [];
    const v = new ModelVisitor();
    const d = new RdbDecoder(
      Object.assign(v, { moduleAux: (n: string, raw: Buffer) => auxes.push([n, Buffer.from(raw)]) }),
      {},
    );
    d.write(
      rdb('REDIS0009', [
        B([0xf7], len(id, 64), len(2), len(2), modBody),
        B([7], str('j'), len(id, 64), modBody),
      ]),
    );
    d.end();
    expect(auxes).toEqual([[name, B(len(2), len(2), modBody)]]);
    const k = only(v);
    expect(k.meta.module).toEqual({ name, encver: 3 });
    expect(k.meta.type).toBe('module');
    expect(k.raw).toEqual(B(len(id, 64), modBody));
    expect(errOf(() => decode(rdb('REDIS0009', [B([7], str('j'), len(id, 64), len(6))]))).message).toMatch(
      /unknown module opcode 6/,
    );
    expect(errOf(() => decode(rdb('REDIS0009', [B([6], str('j'), len(id, 64))]))).code).toBe(
      'ERR_RDB_UNSUPPORTED',
    );
  });
  it('KEY_META (REDIS ≥ 13): ignorable classes are skipped silently, others need onUnsupported skip', () => {
    const spec = (flags: number) => u32le((1 << 8) | (1 << 3) | flags);
    const meta = (flags: number) => B([243], len(1), spec(flags), len(2), len(7), len(0));
    const file = (flags: number) => rdb('REDIS0013', [B(meta(flags), [0], str('k'), str('v'))]);
    expect(only(decode(file(1))).meta.key.toString()).toBe('k');
    const e = errOf(() => decode(file(0)));
    expect(e.code).toBe('ERR_RDB_UNSUPPORTED');
    expect(e.message).toMatch(/unsupported opcode 243 .* in RDB version 13/);
    expect(e.hint).toMatch(/--skip-unsupported/);
    const skipped: unknown[] = [];
    const v = new ModelVisitor();
    const d = new RdbDecoder(Object.assign(v, { skipped: (i: unknown) => skipped.push(i) }), {
      onUnsupported: 'skip',
    });
    d.write(file(0));
    d.end();
    expect(only(v).meta.key.toString()).toBe('k');
    expect(skipped).toHaveLength(1);
    expect(d.skippedCount).toBe(1);
    // 243 under REDIS 12 is not defined
    expect(errOf(() => decode(rdb('REDIS0012', [meta(1)]))).message).toMatch(
      /unsupported opcode 243 in RDB version 12/,
    );
  });
  it('VALKEY080: SLOT_IMPORT opcode and HASH_2 with int64 field expiry', () => {
    const ranges: number[][] = [];
    const v = new ModelVisitor();
    const d = new RdbDecoder(
      Object.assign(v, { slotImport: (_j: Buffer, r: number[]) => ranges.push(r) }),
      {},
    );
    d.write(
      rdb('VALKEY080', [
        B([243], str('j'.repeat(40)), len(2), len(0), len(100), len(200), len(16383)),
        B(
          [22],
          str('h'),
          len(2),
          str('f1'),
          str('v1'),
          i64le(2715785640000n),
          str('f2'),
          str('v2'),
          i64le(-1),
        ),
      ]),
    );
    d.end();
    expect(ranges).toEqual([[0, 100, 200, 16383]]);
    const k = only(v);
    expect(k.meta.family).toBe('valkey');
    expect(k.value.type === 'hash' && Object.fromEntries(k.value.ttl)).toEqual({
      f1: 2715785640000,
      f2: null,
    });
    // type 24 exists only in Redis files
    expect(errOf(() => decode(rdb('VALKEY080', [B([24], str('h'))]))).message).toMatch(
      /unsupported type 24 in RDB version 80/,
    );
  });
  it('hash field expiry types 22/23 (7.4 RC) and 24/25 (GA) give absolute TTLs', () => {
    const lp = listpack([
      B([0x81], 'a'),
      B([0x81], '1'),
      B([0xf4], i64le(1800000000000n)),
      B([0x81], 'b'),
      B([0x81], '2'),
      B([0]),
    ]);
    const f = rdb('REDIS0012', [
      B([22], str('h22'), len(2), len(1800000000000n, 64), str('a'), str('1'), len(0), str('b'), str('2')),
      B([23], str('h23'), str(lp)),
      B(
        [24],
        str('h24'),
        i64le(1800000000000n),
        len(2),
        len(5),
        str('a'),
        str('1'),
        len(0),
        str('b'),
        str('2'),
      ),
      B([25], str('h25'), i64le(1800000000000n), str(lp)),
    ]);
    for (const k of decode(f).order) {
      const want = k.meta.rdbType === 24 ? 1800000000004 : 1800000000000;
      expect(k.value.type === 'hash' && Object.fromEntries(k.value.ttl), k.meta.key.toString()).toEqual({
        a: want,
        b: null,
      });
    }
  });
});

describe('streams', () => {
  it('stream IDs beyond 2^53 stay exact (master ID + deltas, 64-bit lengths)', () => {
    const ms = 2n ** 64n - 10n;
    const master = Buffer.alloc(16);
    master.writeBigUInt64BE(ms, 0);
    master.writeBigUInt64BE(2n ** 60n, 8);
    const lp = listpack([
      B([1]), // count
      B([0]), // deleted
      B([1]), // master field count
      B([0x81], 'f'),
      B([0]), // master entry terminator
      B([2]), // flags: SAMEFIELDS
      B([3]), // ms delta
      B([1]), // seq delta
      B([0x81], 'v'),
      B([4]), // lp-count
    ]);
    const f = rdb('REDIS0009', [
      B(
        [15],
        str('s'),
        len(1),
        str(master),
        str(lp),
        len(1),
        len(ms + 3n, 64),
        len(2n ** 60n + 1n, 64),
        len(0),
      ),
    ]);
    const v = only(decode(f)).value;
    if (v.type !== 'stream') throw new Error('stream expected');
    const id = `${ms + 3n}-${2n ** 60n + 1n}`;
    expect(v.entries.map((e) => [e.id, texts(e.fields)])).toEqual([[id, ['f', 'v']]]);
    expect(v.chunks[0]).toMatchObject({
      kind: 'stream-meta',
      length: 1,
      lastId: id,
      firstId: null,
      groupCount: 0,
    });
  });
});

describe('file-level errors', () => {
  it('onUnsupported skip still fails on a type whose extent is unknown', () => {
    const e = errOf(() => decode(rdb('REDIS0011', [B([40], str('k'))]), { onUnsupported: 'skip' }));
    expect(e.code).toBe('ERR_RDB_UNSUPPORTED');
    expect(e.message).toMatch(/cannot be skipped safely/);
  });
  it('bad magic and unknown versions are ERR_RDB_VERSION', () => {
    expect(errOf(() => decode(Buffer.from('RADIS0009\xff'))).code).toBe('ERR_RDB_VERSION');
    expect(errOf(() => decode(Buffer.from('REDIS00x9\xff'))).code).toBe('ERR_RDB_VERSION');
    expect(errOf(() => decode(rdb('REDIS0014', []))).code).toBe('ERR_RDB_VERSION');
    expect(errOf(() => decode(rdb('VALKEY079', []))).code).toBe('ERR_RDB_VERSION');
    expect(decode(rdb('REDIS0014', []), { allowNewerVersions: true }).crc).toBe('ok');
  });
  it('unknown types and opcodes are ERR_RDB_UNSUPPORTED naming the id and version', () => {
    const t = errOf(() => decode(rdb('REDIS0011', [B([40], str('k'))])));
    expect(t.code).toBe('ERR_RDB_UNSUPPORTED');
    expect(t.message).toMatch(/unsupported type 40 in RDB version 11/);
    expect(t.offset).toBe(9);
    expect(errOf(() => decode(rdb('REDIS0011', [B([200])]))).message).toMatch(
      /unsupported opcode 200 in RDB version 11/,
    );
  });
  it('truncation is ERR_RDB_TRUNCATED at end(), and never earlier', () => {
    const f = rdb('REDIS0011', [B([0], str('key'), str('value'))]);
    for (let cut = 0; cut < f.length; cut++) {
      const d = new RdbDecoder(new ModelVisitor());
      d.write(f.subarray(0, cut));
      const e = errOf(() => d.end());
      expect(e.code).toBe('ERR_RDB_TRUNCATED');
      expect(e.offset).toBe(cut);
    }
  });
  it('checksum: mismatch names both values; zero is not verified; v < 5 has none', () => {
    const e = errOf(() => decode(rdb('REDIS0011', [B([0], str('k'), str('v'))], 'bad')));
    expect(e.code).toBe('ERR_RDB_CHECKSUM');
    expect(e.message).toMatch(/says 0x[0-9a-f]{16}, the content hashes to 0x[0-9a-f]{16}/);
    expect(decode(rdb('REDIS0011', [], 'zero')).crc).toBe('zero');
    expect(decode(rdb('REDIS0004', [])).crc).toBe('absent');
  });
  it('a failed decoder keeps failing with the same error', () => {
    const d = new RdbDecoder(new ModelVisitor());
    const e = errOf(() => d.write(Buffer.from('NOTANRDBFILE')));
    expect(errOf(() => d.write(Buffer.from('x')))).toBe(e);
    expect(errOf(() => d.end())).toBe(e);
  });
});

describe('DUMP payloads', () => {
  it('builds and decodes the documented example (string "19", version 9)', () => {
    const p = buildDumpPayload(0, Buffer.from([0xc0, 0x13]), 9);
    expect(p.subarray(0, 5)).toEqual(Buffer.from([0x00, 0xc0, 0x13, 0x09, 0x00]));
    expect(p.readBigUInt64LE(5)).toBe(crcRef(p.subarray(0, 5)));
    const seen: KeyMeta[] = [];
    const chunks: ValueChunk[] = [];
    decodeDumpPayload(
      p,
      {
        keyStart: (m) => seen.push(m),
        keyRaw: () => {},
        keyElements: (c) => chunks.push(c),
        keyEnd: () => {},
        functionLibrary: () => {},
      },
      { db: 3, key: Buffer.from('k'), expireAtMs: 123 },
    );
    expect(seen[0]).toMatchObject({ db: 3, rdbType: 0, rdbVersion: 9, family: 'redis', expireAtMs: 123 });
    expect(chunks).toEqual([{ kind: 'string', data: Buffer.from('19') }]);
  });
  it('rejects bad CRC, future versions, trailing bytes and opcodes', () => {
    const key = { db: 0, key: Buffer.from('k') };
    const m = new ModelVisitor();
    const p = Buffer.from(buildDumpPayload(0, Buffer.from([0xc0, 0x13]), 9));
    p[1] = 0xc1;
    expect(errOf(() => decodeDumpPayload(p, m, key)).code).toBe('ERR_RDB_CHECKSUM');
    expect(errOf(() => decodeDumpPayload(buildDumpPayload(0, str('x'), 14), m, key)).code).toBe(
      'ERR_RDB_VERSION',
    );
    expect(errOf(() => decodeDumpPayload(buildDumpPayload(0, B(str('x'), [1]), 9), m, key)).message).toMatch(
      /unexpected bytes/,
    );
    expect(errOf(() => decodeDumpPayload(buildDumpPayload(254, len(0), 9), m, key)).code).toBe(
      'ERR_RDB_CORRUPT',
    );
    expect(errOf(() => decodeDumpPayload(Buffer.alloc(5), m, key)).code).toBe('ERR_RDB_CORRUPT');
  });
  it('family comes from the version: ≥ 80 is Valkey (type 22 = HASH_2)', () => {
    const m = new ModelVisitor();
    decodeDumpPayload(buildDumpPayload(22, B(len(1), str('f'), str('v'), i64le(-1)), 80), m, {
      db: 0,
      key: Buffer.from('h'),
    });
    expect(only(m).meta.family).toBe('valkey');
  });
});
