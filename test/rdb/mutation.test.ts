/**
 * Robustness: ≥ 100k mutated fixture inputs (byte flips, truncations, inserted and deleted bytes,
 * also fed in random pieces) each end normally or with an RdbError — never another exception type,
 * never a hang (each decode is timed), never an unbounded allocation (maxBlobBytes is small here and
 * any attempt beyond it must fail typed).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ValueChunk } from '../../src/records.js';
import { decodeDumpPayload, RdbDecoder, RdbError } from '../../src/rdb/index.js';
import { HAVE_FIXTURES, listFiles } from './helpers.js';

/** Deterministic PRNG (mulberry32) so a failure can be replayed from the printed seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(src: Buffer, r: () => number): Buffer {
  const b = Buffer.from(src);
  const kind = Math.floor(r() * 5);
  const at = Math.floor(r() * b.length);
  switch (kind) {
    case 0: {
      // flip 1–4 random bytes
      const n = 1 + Math.floor(r() * 4);
      for (let i = 0; i < n; i++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
      return b;
    }
    case 1:
      return b.subarray(0, at); // truncate
    case 2: {
      const ins = Buffer.from(Array.from({ length: 1 + Math.floor(r() * 8) }, () => Math.floor(r() * 256)));
      return Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
    }
    case 3:
      return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + Math.floor(r() * 8)))]);
    default: {
      // a length-ish byte set to an extreme value
      b[at] = [0x80, 0x81, 0xbf, 0xc3, 0xff, 0xfe, 0x00][Math.floor(r() * 7)]!;
      return b;
    }
  }
}

const sink = {
  elements: 0,
  keyStart(): void {},
  keyRaw(): void {},
  keyElements(_c: ValueChunk): void {
    this.elements++;
  },
  keyEnd(): void {},
  functionLibrary(): void {},
};

const OPTS = { maxBlobBytes: 1 << 20, maxChunkElements: 64 };

function decodeFile(buf: Buffer, r: () => number): string {
  const opts = { ...OPTS, decodeValues: r() < 0.8 };
  const d = new RdbDecoder(sink, r() < 0.5 ? { ...opts, expectedSize: buf.length } : opts);
  if (r() < 0.8) d.write(buf);
  else {
    const cut = Math.floor(r() * buf.length);
    d.write(buf.subarray(0, cut));
    d.write(buf.subarray(cut));
  }
  d.end();
  return 'ok';
}

describe.skipIf(!HAVE_FIXTURES)('mutated inputs end in a normal end or an RdbError', () => {
  it('≥ 100k mutated RDB files and DUMP payloads', () => {
    // Small files keep the run short; together they cover every type and encoding.
    const rdbs = listFiles('.rdb')
      .map((f) => readFileSync(f))
      .filter((b) => b.length <= 12_000);
    const dumps = listFiles('.bin').map((f) => readFileSync(f));
    expect(rdbs.length).toBeGreaterThan(100);
    const seed = Number(process.env.RDB_MUTATION_SEED ?? 20261123);
    const r = rng(seed);
    const counts: Record<string, number> = {};
    let slowest = 0;
    const N = 100_000;
    const started = Date.now();
    for (let i = 0; i < N; i++) {
      const useDump = i % 5 === 4;
      const src = useDump ? dumps[i % dumps.length]! : rdbs[i % rdbs.length]!;
      const input = mutate(src, r);
      const t0 = performance.now();
      let outcome: string;
      try {
        if (useDump) {
          decodeDumpPayload(
            input,
            sink,
            { db: 0, key: Buffer.from('k') },
            { ...OPTS, skipChecksum: r() < 0.7 },
          );
          outcome = 'ok';
        } else outcome = decodeFile(input, r);
      } catch (e) {
        if (!(e instanceof RdbError)) {
          throw new Error(`seed ${seed} iteration ${i}: ${String(e)} is not an RdbError`, { cause: e });
        }
        outcome = e.code;
      }
      const dt = performance.now() - t0;
      if (dt > slowest) slowest = dt;
      expect(dt, `seed ${seed} iteration ${i} took ${dt} ms`).toBeLessThan(2000);
      counts[outcome] = (counts[outcome] ?? 0) + 1;
    }
    console.log(
      `mutation: ${N} inputs in ${Date.now() - started} ms, slowest ${slowest.toFixed(1)} ms`,
      counts,
    );
    // Every class of outcome shows up, so the mutations really reach the decoder's checks.
    for (const c of ['ok', 'ERR_RDB_CORRUPT', 'ERR_RDB_TRUNCATED', 'ERR_RDB_CHECKSUM', 'ERR_RDB_VERSION']) {
      expect(counts[c], c).toBeGreaterThan(0);
    }
  }, 120_000);
});
