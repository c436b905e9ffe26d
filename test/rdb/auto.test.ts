/**
 * Auto mode (wantElements / decodeValues: 'auto'): per key, raw-only or decoded, and raw-only keys that
 * grow past rawOnlyMaxBytes upgraded mid-key. Whatever the chunking and the predicate, every key that
 * gets elements gets exactly the element log of a full decode (from its first element), every key gets
 * exactly the same raw body, and a raw-only key gets elements only after `keyUpgraded`.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KeyMeta, ValueChunk } from '../../src/records.js';
import { RdbDecoder, type RdbDecoderOptions, RdbError } from '../../src/rdb/index.js';
import { feedPieces, HAVE_FIXTURES, LogVisitor, listFiles, rel } from './helpers.js';

/** LogVisitor that also checks the auto-mode protocol per key. */
class AutoLog extends LogVisitor {
  wanted: boolean[] = [];
  upgraded: boolean[] = [];
  gotElements: boolean[] = [];
  problems: string[] = [];
  private i = -1;
  constructor(private readonly want: ((meta: KeyMeta, i: number) => boolean) | null) {
    super();
  }
  /** The predicate handed to the decoder (called right after keyStart). */
  readonly wantElements = (m: KeyMeta): boolean => {
    const w = this.want === null ? false : this.want(m, this.i);
    this.wanted[this.i] = w;
    return w;
  };
  override keyStart(m: KeyMeta): void {
    this.i++;
    this.upgraded[this.i] = false;
    this.gotElements[this.i] = false;
    super.keyStart(m);
  }
  keyUpgraded(): void {
    if (this.upgraded[this.i]) this.problems.push(`key ${this.i}: keyUpgraded twice`);
    if (this.wanted[this.i]) this.problems.push(`key ${this.i}: keyUpgraded on a key that wanted elements`);
    if (this.gotElements[this.i]) this.problems.push(`key ${this.i}: keyUpgraded after elements`);
    this.upgraded[this.i] = true;
  }
  override keyElements(c: ValueChunk): void {
    if (!this.wanted[this.i] && !this.upgraded[this.i])
      this.problems.push(`key ${this.i}: elements without wantElements or keyUpgraded`);
    this.gotElements[this.i] = true;
    super.keyElements(c);
  }
}

interface Split {
  /** Lines outside keys, in order. */
  outside: string[];
  /** One entry per key: its lines from `key …` to `keyend`. */
  keys: string[][];
}

function split(log: string[]): Split {
  const out: Split = { outside: [], keys: [] };
  let cur: string[] | null = null;
  for (const l of log) {
    if (l.startsWith('key ')) cur = [];
    if (cur === null) out.outside.push(l);
    else cur.push(l);
    if (l === 'keyend') {
      out.keys.push(cur!);
      cur = null;
    }
  }
  return out;
}

/** A key's lines without its elements (what a raw-only key logs). */
const withoutElements = (lines: string[]): string[] =>
  lines.filter((l) => !l.startsWith('  ') || l.startsWith('  raw '));

const feed = feedPieces;

function full(buf: Buffer, opts: RdbDecoderOptions = {}): LogVisitor | string {
  const v = new LogVisitor();
  try {
    feed(new RdbDecoder(v, opts), buf, []);
    return v;
  } catch (e) {
    if (e instanceof RdbError) return e.code;
    throw e;
  }
}

/** Decode in auto mode and check it against the full decode `ref`; returns how many keys upgraded. */
function checkAuto(
  name: string,
  buf: Buffer,
  ref: LogVisitor,
  cuts: number[],
  want: ((meta: KeyMeta, i: number) => boolean) | null,
  opts: RdbDecoderOptions,
): { upgraded: number; keys: number } {
  const v = new AutoLog(want);
  const d = new RdbDecoder(v, { ...opts, ...(want ? { wantElements: v.wantElements } : {}) });
  if (want === null) v.wanted.fill(false);
  feed(d, buf, cuts);
  expect(v.problems, name).toEqual([]);
  const a = split(v.log);
  const f = split(ref.log);
  expect(a.outside, name).toEqual(f.outside);
  expect(a.keys.length, name).toBe(f.keys.length);
  expect(v.rawBodies, name).toEqual(ref.rawBodies);
  const max = opts.rawOnlyMaxBytes ?? 16 * 1024 * 1024;
  let upgraded = 0;
  for (let i = 0; i < f.keys.length; i++) {
    const at = `${name} key ${i}`;
    if (v.wanted[i] || v.upgraded[i]) expect(a.keys[i], at).toEqual(f.keys[i]);
    else expect(a.keys[i], at).toEqual(withoutElements(f.keys[i]!));
    // Upgrades depend on the raw size only, never on the chunking.
    const big = ref.rawBodies[i]!.length > max && !a.keys[i]![0]!.includes(' module ');
    expect(v.upgraded[i], at).toBe(!v.wanted[i] && big);
    if (v.upgraded[i]) upgraded++;
  }
  expect(d.keysUpgraded, name).toBe(upgraded);
  return { upgraded, keys: f.keys.length };
}

const files = HAVE_FIXTURES ? listFiles('.rdb') : [];
const bufs = files.map((f) => readFileSync(f));
const refs = bufs.map((b) => full(b));
const good = files.map((_, i) => i).filter((i) => typeof refs[i] !== 'string');

describe.skipIf(!HAVE_FIXTURES)('auto mode: per-key raw-only or decoded, big keys upgraded', () => {
  it('random predicate, tiny rawOnlyMaxBytes, random split points = full decode per key (fast-check)', () => {
    let runsWithUpgrades = 0;
    fc.assert(
      fc.property(
        fc.constantFrom(...good),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 40 }),
        fc.integer(),
        fc.constantFrom(0, 1, 16, 64, 300, 5000),
        (i, fracs, seed, rawMax) => {
          const b = bufs[i]!;
          const cuts = [...new Set(fracs.map((x) => Math.floor(x * b.length)))]
            .filter((c) => c > 0 && c < b.length)
            .sort((x, y) => x - y);
          const want = (_m: KeyMeta, k: number): boolean => ((seed >>> (k % 31)) & 1) === 1;
          const r = checkAuto(rel(files[i]!), b, refs[i] as LogVisitor, cuts, want, {
            rawOnlyMaxBytes: rawMax,
          });
          if (r.upgraded > 0) runsWithUpgrades++;
        },
      ),
      { numRuns: Number(process.env.AUTO_RUNS ?? 500) },
    );
    // The property really exercised upgrades (a third of the runs have a threshold of 0 or 1 byte).
    expect(runsWithUpgrades).toBeGreaterThan(50);
  });

  it('yieldWhen: stopping between random steps and going on at the next write or end() changes nothing (fast-check)', () => {
    let yields = 0;
    fc.assert(
      fc.property(
        fc.constantFrom(...good),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 20 }),
        fc.integer(),
        fc.constantFrom(0, 16, 300, 5000),
        fc.constantFrom(0.05, 0.5, 1),
        (i, fracs, seed, rawMax, p) => {
          const b = bufs[i]!;
          const cuts = [...new Set(fracs.map((x) => Math.floor(x * b.length)))]
            .filter((c) => c > 0 && c < b.length)
            .sort((x, y) => x - y);
          let r = seed | 0;
          const yieldWhen = (): boolean => {
            r = (Math.imul(r, 1103515245) + 12345) | 0; // a small LCG: the same run for the same seed
            const y = ((r >>> 8) & 0xffff) / 0x10000 < p;
            if (y) yields++;
            return y;
          };
          const want = (_m: KeyMeta, k: number): boolean => ((seed >>> (k % 31)) & 1) === 1;
          checkAuto(rel(files[i]!), b, refs[i] as LogVisitor, cuts, want, {
            rawOnlyMaxBytes: rawMax,
            yieldWhen,
            yieldMinBytes: 0,
          });
        },
      ),
      { numRuns: Number(process.env.AUTO_RUNS ?? 200) },
    );
    expect(yields).toBeGreaterThan(0); // pauses happen only over joined buffers: rare in small files
  });

  it('yieldWhen: an empty write() goes on after a pause, one step at a time when it always says stop', () => {
    const i = good.reduce(
      (a, k) => (bufs[k]!.length > bufs[a]!.length && bufs[k]!.length < 2_000_000 ? k : a),
      good[0]!,
    );
    const b = bufs[i]!;
    const v = new LogVisitor();
    let pausing = true;
    const d = new RdbDecoder(v, { yieldWhen: () => pausing, yieldMinBytes: 0 });
    d.write(Buffer.from(b.subarray(0, 5))); // short of the header: kept, so the rest is joined to it
    d.write(Buffer.from(b.subarray(5)));
    expect(d.done).toBe(false); // stopped after the first step over the joined (own) buffer
    let writes = 0;
    while (!d.done && writes < 1_000_000) {
      d.write(Buffer.alloc(0));
      writes++;
    }
    expect(d.done).toBe(true);
    expect(writes).toBeGreaterThan(1);
    d.end();
    expect(v.log).toEqual((refs[i] as LogVisitor).log);
    pausing = false;
  });

  it('every fixture byte by byte, nothing wanted, rawOnlyMaxBytes 64', () => {
    for (const i of good) {
      const b = bufs[i]!;
      if (b.length > 300_000) continue;
      const cuts = Array.from({ length: b.length - 1 }, (_, k) => k + 1);
      checkAuto(rel(files[i]!), b, refs[i] as LogVisitor, cuts, null, {
        decodeValues: 'auto',
        rawOnlyMaxBytes: 64,
      });
    }
  });

  it('one cut at every position, half the keys wanted, rawOnlyMaxBytes 16, for the small fixtures', () => {
    for (const i of good) {
      const b = bufs[i]!;
      if (b.length > 700) continue;
      for (let c = 1; c < b.length; c++)
        checkAuto(`${rel(files[i]!)} cut at ${c}`, b, refs[i] as LogVisitor, [c], (_m, k) => k % 2 === 0, {
          rawOnlyMaxBytes: 16,
        });
    }
  });

  it('tiny chunk budgets: upgraded keys still come out in bounded chunks, the same elements', () => {
    for (const i of good) {
      const ref = full(bufs[i]!, { maxChunkElements: 3, maxChunkBytes: 64 }) as LogVisitor;
      checkAuto(rel(files[i]!), bufs[i]!, ref, [], null, {
        decodeValues: 'auto',
        rawOnlyMaxBytes: 32,
        maxChunkElements: 3,
        maxChunkBytes: 64,
      });
    }
  });

  it('default threshold: small keys stay raw-only (no elements, no copies kept past the key)', () => {
    for (const i of good) {
      const r = checkAuto(rel(files[i]!), bufs[i]!, refs[i] as LogVisitor, [], () => false, {});
      expect(r.upgraded).toBe(0);
    }
  });

  it('decodeValues: false wins over wantElements (raw-only, never upgraded)', () => {
    const i = good[0]!;
    let asked = 0;
    const v = new AutoLog(null);
    const d = new RdbDecoder(v, {
      decodeValues: false,
      rawOnlyMaxBytes: 0,
      wantElements: () => {
        asked++;
        return true;
      },
    });
    feed(d, bufs[i]!, []);
    expect(asked).toBe(0);
    expect(v.upgraded.some(Boolean)).toBe(false);
    expect(v.gotElements.some(Boolean)).toBe(false);
  });
});

/** A plain string of `n` bytes in a minimal RDB 9 file (no checksum). */
function stringRdb(n: number): { file: Buffer; value: Buffer } {
  const value = Buffer.alloc(n);
  for (let i = 0; i < n; i++) value[i] = (i * 31 + 7) & 0xff;
  const len = Buffer.alloc(5);
  len[0] = 0x80;
  len.writeUInt32BE(n, 1);
  const file = Buffer.concat([
    Buffer.from('REDIS0009', 'latin1'),
    Buffer.from([0xfe, 0x00, 0x00, 0x01, 0x6b]),
    len,
    value,
    Buffer.from([0xff]),
    Buffer.alloc(8),
  ]);
  return { file, value };
}

describe('auto mode on a big plain string', () => {
  it('rawOnlyMaxBytes: Infinity never upgrades', () => {
    const { file } = stringRdb(2 * 1024 * 1024);
    let elements = 0;
    let rawBytes = 0;
    const d = new RdbDecoder(
      {
        keyStart() {},
        keyRaw: (b) => {
          rawBytes += b.length;
        },
        keyElements: () => elements++,
        keyEnd() {},
        functionLibrary() {},
      },
      { decodeValues: 'auto', rawOnlyMaxBytes: Number.POSITIVE_INFINITY },
    );
    for (let i = 0; i < file.length; i += 65_536) d.write(file.subarray(i, i + 65_536));
    d.end();
    expect(elements).toBe(0);
    expect(d.keysUpgraded).toBe(0);
    expect(rawBytes).toBe(5 + 2 * 1024 * 1024);
  });

  it('upgrades mid-string: pieces cover the whole value, raw is delivered once, memory stays bounded', () => {
    const { file, value } = stringRdb(3 * 1024 * 1024 + 17);
    const pieces: Buffer[] = [];
    const raw: Buffer[] = [];
    let upgradedAt = -1;
    const d = new RdbDecoder(
      {
        keyStart() {},
        keyRaw: (b) => raw.push(Buffer.from(b)),
        keyElements: (c) => {
          if (c.kind !== 'string') throw new Error(c.kind);
          expect(c.data.length).toBeLessThanOrEqual(256 * 1024);
          pieces.push(Buffer.from(c.data));
        },
        keyUpgraded: () => {
          upgradedAt = Buffer.concat(raw).length;
        },
        keyEnd() {},
        functionLibrary() {},
      },
      { decodeValues: 'auto', rawOnlyMaxBytes: 1024 * 1024, maxChunkBytes: 256 * 1024 },
    );
    for (let i = 0; i < file.length; i += 100_003) d.write(file.subarray(i, i + 100_003));
    d.end();
    expect(d.checksum).toBe('zero');
    expect(d.keysUpgraded).toBe(1);
    // Upgraded as soon as the raw body passed the threshold, not at the end of the value.
    expect(upgradedAt).toBeGreaterThan(1024 * 1024);
    expect(upgradedAt).toBeLessThan(1024 * 1024 + 300_000);
    expect(Buffer.concat(pieces).equals(value)).toBe(true);
    expect(Buffer.concat(raw).equals(file.subarray(14, 14 + 5 + value.length))).toBe(true);
  });
});
