/**
 * Deep validation of compact blobs (src/rdb/validate.ts): each rule Redis's deep sanitization checks
 * has a blob here that breaks only that rule, and must fail with ERR_RDB_CORRUPT naming it; the
 * well-formed variants pass. Also through the decoder in raw-only mode (the RESTORE path), where the
 * blob used to be skipped unread.
 */
import { describe, expect, it } from 'vitest';
import { RdbDecoder, RdbError } from '../../src/rdb/index.js';
import {
  SHAPE,
  validateIntset,
  validateListpack,
  validateStreamListpack,
  validateZiplist,
  validateZipmap,
} from '../../src/rdb/validate.js';
import { B, listpack, rdb, str, ziplist } from './build.js';

const s6 = (t: string) => B([0x80 | t.length], t);
function err(fn: () => unknown): RdbError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(RdbError);
    return e as RdbError;
  }
  throw new Error('expected an RdbError');
}
const lp = (b: Buffer, shape: number = SHAPE.LIST) =>
  validateListpack(b, 0, b.length, 100, 'lp', shape, false);
const zl = (b: Buffer, shape: number = SHAPE.LIST) =>
  validateZiplist(b, 0, b.length, 100, 'zl', shape, false);

describe('listpack rules', () => {
  const good = listpack([s6('a'), s6('1'), s6('b'), s6('2')]);
  it('accepts a well-formed hash listpack and counts its entries', () => {
    expect(lp(good, SHAPE.PAIRS)).toBe(4);
  });
  it('total bytes, terminator, entry count, backlen, encoding, pairs, duplicates', () => {
    const total = Buffer.from(good);
    total.writeUInt32LE(good.length + 1, 0);
    expect(err(() => lp(total)).message).toMatch(/header declares \d+ bytes, the blob has/);
    const end = Buffer.from(good);
    end[end.length - 1] = 0;
    expect(err(() => lp(end)).message).toMatch(/0xFF terminator/);
    const count = Buffer.from(good);
    count.writeUInt16LE(7, 4);
    expect(err(() => lp(count)).message).toMatch(/header declares 7 entries, the blob holds 4/);
    const back = Buffer.from(good);
    back[6 + 2] = 9; // first entry's backlen
    expect(err(() => lp(back)).message).toMatch(/backlen says 9 bytes, the entry has 2/);
    const enc = listpack([s6('a'), B([0xf5])]);
    expect(err(() => lp(enc)).message).toMatch(/invalid entry encoding byte 0xf5/);
    expect(err(() => lp(listpack([s6('a'), s6('1'), s6('b')]), SHAPE.PAIRS)).message).toMatch(
      /3 entries is not a multiple of 2/,
    );
    // "12" as text and 12 as an integer are the same field to Redis (hashTypeConvert would panic).
    const dup = listpack([s6('12'), s6('x'), B([12]), s6('y')]);
    const e = err(() => lp(dup, SHAPE.PAIRS));
    expect(e.code).toBe('ERR_RDB_CORRUPT');
    expect(e.message).toMatch(/duplicate field "12"/);
    expect(e.offset).toBe(100 + 6 + 4 + 3); // base + header + the first pair (4 + 3 bytes with backlens)
    expect(lp(dup, SHAPE.LIST)).toBe(4); // a list may repeat elements
    expect(err(() => lp(listpack([s6('a'), s6('b'), s6('a')]), SHAPE.SET)).message).toMatch(
      /duplicate set member "a"/,
    );
    expect(err(() => lp(listpack([s6('f'), s6('v'), s6('t')]), SHAPE.TRIPLETS)).message).toMatch(
      /TTL is not an integer/,
    );
  });
  it('backlen sizes are Redis’s (an entry of 16383 bytes takes 3 backlen bytes)', () => {
    const data = Buffer.alloc(16378, 0x61);
    const entry = B([0xf0], [0xfa, 0x3f, 0, 0], data); // 32-bit string length 16378: 5 + 16378 = 16383
    const l = entry.length;
    const back = B([l >> 14, ((l >> 7) & 127) | 128, (l & 127) | 128]);
    const body = B(entry, back, [1], [1]); // then the integer 1 (backlen 1)
    const h = Buffer.alloc(6);
    h.writeUInt32LE(6 + body.length + 1, 0);
    h.writeUInt16LE(2, 4);
    const blob = B(h, body, [0xff]);
    expect(lp(blob)).toBe(2);
    // and the decoder's cursor reads the element after it (it used to skip 2 backlen bytes, not 3)
    const items: Buffer[] = [];
    const d = new RdbDecoder({
      keyStart() {},
      keyRaw() {},
      keyElements(c) {
        if (c.kind === 'list') items.push(...c.items.map((b) => Buffer.from(b)));
      },
      keyEnd() {},
      functionLibrary() {},
    });
    d.write(rdb('REDIS0010', [B([18], str('l'), [1], [2], str(blob))]));
    d.end();
    expect(items.map((b) => b.length)).toEqual([16378, 1]);
  });
});

describe('ziplist rules', () => {
  const good = ziplist([B([1], 'a'), B([1], 'b')]);
  it('prevlen chain, tail offset, count, encodings, pairs, duplicates', () => {
    expect(zl(good)).toBe(2);
    const prev = Buffer.from(good);
    prev[10 + 3] = 5; // second entry's prevlen (first entry is 3 bytes)
    expect(err(() => zl(prev)).message).toMatch(/prevlen says 5, the previous entry has 3 bytes/);
    const tail = Buffer.from(good);
    tail.writeUInt32LE(10, 4);
    expect(err(() => zl(tail)).message).toMatch(/tail offset 10 is not the last entry's offset 13/);
    const count = Buffer.from(good);
    count.writeUInt16LE(3, 8);
    expect(err(() => zl(count)).message).toMatch(/header declares 3 entries, the blob holds 2/);
    expect(err(() => zl(ziplist([B([0xc5], [0])]))).message).toMatch(/invalid integer encoding byte 0xc5/);
    expect(err(() => zl(ziplist([B([0x99], 'a')]))).message).toMatch(/invalid string encoding byte 0x99/);
    expect(err(() => zl(ziplist([B([1], 'a')]), SHAPE.PAIRS)).message).toMatch(/not a multiple of 2/);
    expect(
      err(() => zl(ziplist([B([1], '5'), B([1], 'x'), B([0xf6]), B([1], 'y')]), SHAPE.PAIRS)).message,
    ).toMatch(/duplicate field "5"/);
  });
});

describe('intset, zipmap rules', () => {
  const is = (w: number, vals: number[], n = vals.length) => {
    const b = Buffer.alloc(8 + vals.length * w);
    b.writeUInt32LE(w, 0);
    b.writeUInt32LE(n, 4);
    for (const [i, v] of vals.entries()) {
      if (w === 8) b.writeBigInt64LE(BigInt(v), 8 + i * w);
      else b.writeIntLE(v, 8 + i * w, w);
    }
    return b;
  };
  const vi = (b: Buffer) => validateIntset(b, 0, b.length, 0, 'intset', false);
  it('width 2/4/8, size, non-empty, strictly ascending', () => {
    expect(vi(is(2, [-3, 1, 7]))).toBe(3);
    expect(vi(is(8, [-(2 ** 40), 5, 2 ** 40]))).toBe(3);
    expect(err(() => vi(is(3, [1]))).message).toMatch(/element width 3/);
    expect(err(() => vi(is(2, [1, 2], 3))).message).toMatch(/declares 3 × 2-byte elements/);
    expect(err(() => vi(is(2, []))).message).toMatch(/empty intset/);
    expect(err(() => vi(is(4, [1, 1]))).message).toMatch(/sorted and unique/);
    expect(err(() => vi(is(8, [5, -(2 ** 40)]))).message).toMatch(/sorted and unique/);
  });
  const vz = (b: Buffer) => validateZipmap(b, 0, b.length, 0, 'zipmap', false);
  it('zipmap: lengths in range, end marker last, count, duplicates, not empty', () => {
    const zm = (n: number, pairs: [string, string][], tail: number[] = []) =>
      B([n], ...pairs.flatMap(([k, v]) => [B([k.length], k), B([v.length, 0], v)]), [0xff], tail);
    expect(
      vz(
        zm(2, [
          ['a', '1'],
          ['b', '2'],
        ]),
      ),
    ).toBe(2);
    expect(
      err(() =>
        vz(
          zm(3, [
            ['a', '1'],
            ['b', '2'],
          ]),
        ),
      ).message,
    ).toMatch(/declares 3 pairs, the blob holds 2/);
    expect(
      err(() =>
        vz(
          zm(2, [
            ['a', '1'],
            ['a', '2'],
          ]),
        ),
      ).message,
    ).toMatch(/duplicate field "a"/);
    expect(err(() => vz(zm(0, []))).message).toMatch(/empty zipmap/);
    expect(err(() => vz(zm(1, [['a', '1']], [0]))).message).toMatch(/after the end marker/);
    expect(err(() => vz(B([1], [9], 'a'))).message).toMatch(/runs past the end/);
  });
});

describe('stream node listpack rules', () => {
  const I = (n: number) => B([n]); // 7-bit integers
  // master: count 1, deleted 0, 1 field "f", 0; entry: flags 2 (same fields), ms 0, seq 0, value, lp-count 3
  const entries = [I(1), I(0), I(1), s6('f'), I(0), I(2), I(0), I(0), s6('v'), I(4)];
  const vs = (b: Buffer) => validateStreamListpack(b, 0, b.length, 0, 'stream node listpack', false);
  it('master entry, entry count, lp-count, nothing after', () => {
    // lp-count of a same-fields entry: fields (1) + 3 = 4
    expect(() => vs(listpack(entries))).not.toThrow();
    const bad = [...entries];
    bad[9] = I(7);
    expect(err(() => vs(listpack(bad))).message).toMatch(/lp-count 7 does not match its 4 elements/);
    const noZero = [...entries];
    noZero[4] = I(1);
    expect(err(() => vs(listpack(noZero))).message).toMatch(/master entry not terminated by 0/);
    expect(err(() => vs(listpack([...entries, I(1)]))).message).toMatch(/entries after the last one/);
    const more = [...entries];
    more[0] = I(2);
    expect(err(() => vs(listpack(more))).message).toMatch(/missing entry flags/);
    expect(err(() => vs(listpack([s6('x')]))).message).toMatch(/master entry count is not an integer/);
  });
});

describe('through the decoder in raw-only mode (the RESTORE path)', () => {
  const visitor = { keyStart() {}, keyRaw() {}, keyElements() {}, keyEnd() {}, functionLibrary() {} };
  it('a damaged blob fails typed, naming the rule, the key, its db and the offset', () => {
    const blob = listpack([s6('a'), s6('1'), s6('a'), s6('2')]);
    const file = rdb('REDIS0010', [B([0xfe, 2]), B([16], str('bad'), str(blob))]);
    for (const decodeValues of [false, true]) {
      const d = new RdbDecoder(visitor, { decodeValues });
      const e = err(() => d.write(file));
      expect(e.code).toBe('ERR_RDB_CORRUPT');
      expect(e.message).toMatch(
        /hash listpack: duplicate field "a" — in key "bad" of db 2 \(type 16, starting at byte 11\)/,
      );
      expect(e.offset).toBe(17 + 12); // the blob starts at 17; the second field 12 bytes in
    }
  });
  it('a compact blob over maxCompactBytes fails before it is read (ERR_RDB_TOO_BIG)', () => {
    const d = new RdbDecoder(visitor, { decodeValues: false, maxCompactBytes: 1024 });
    // Only the header of a 1 MiB listpack: the error comes without the rest.
    const head = Buffer.alloc(6);
    head.writeUInt32LE(1 << 20, 0);
    const e = err(() => d.write(B('REDIS0010', [16], str('big'), [0x80, 0, 0x10, 0, 0], head)));
    expect(e.code).toBe('ERR_RDB_TOO_BIG');
    expect(e.message).toMatch(/hash listpack of 1048576 bytes is over the 1024-byte limit/);
  });
  it('a header that disagrees with the RDB string length fails before the blob is read whole', () => {
    const d = new RdbDecoder(visitor, { decodeValues: false });
    const head = Buffer.alloc(6);
    head.writeUInt32LE(999, 0);
    // declares 512 KiB but only its first 6 bytes arrive: the mismatch is reported now.
    const e = err(() => d.write(B('REDIS0010', [16], str('k'), [0x80, 0, 0x08, 0, 0], head)));
    expect(e.message).toMatch(/header declares 999 bytes, the RDB string has 524288/);
  });
});
