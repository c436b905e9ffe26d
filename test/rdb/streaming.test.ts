/**
 * Chunk boundaries must not matter: every fixture fed whole, byte by byte, and split at random points
 * (fast-check) gives the same normalised event log — or the same typed error. Also checks that
 * element chunks respect maxChunkElements/maxChunkBytes and that big strings come out in pieces.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ValueChunk } from '../../src/records.js';
import { RdbDecoder, type RdbDecoderOptions, RdbError } from '../../src/rdb/index.js';
import { feedPieces, HAVE_FIXTURES, LogVisitor, listFiles, rel } from './helpers.js';

interface Outcome {
  log: string[];
  error: string | null;
}

function run(buf: Buffer, cuts: number[], opts: RdbDecoderOptions = {}): Outcome {
  const v = new LogVisitor();
  const d = new RdbDecoder(v, opts);
  try {
    feedPieces(d, buf, cuts);
    return { log: v.log, error: null };
  } catch (e) {
    if (!(e instanceof RdbError)) throw e;
    return { log: [], error: e.code };
  }
}

const files = HAVE_FIXTURES ? listFiles('.rdb') : [];
const bufs = files.map((f) => readFileSync(f));
const whole = bufs.map((b) => run(b, []));

describe.skipIf(!HAVE_FIXTURES)('chunk boundaries do not change the result', () => {
  it('byte by byte equals whole, for every fixture', () => {
    for (let i = 0; i < files.length; i++) {
      const b = bufs[i]!;
      if (b.length > 300_000) continue; // the two biggest files are covered by the random splits below
      const cuts = Array.from({ length: b.length - 1 }, (_, k) => k + 1);
      expect(run(b, cuts), rel(files[i]!)).toEqual(whole[i]);
    }
  });

  it('one cut at every position equals whole, for the small fixtures', () => {
    for (let i = 0; i < files.length; i++) {
      const b = bufs[i]!;
      if (b.length > 1500) continue;
      for (let c = 1; c < b.length; c++)
        expect(run(b, [c]), `${rel(files[i]!)} cut at ${c}`).toEqual(whole[i]);
    }
  });

  it('random split points equal whole (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: files.length - 1 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 40 }),
        (i, fracs) => {
          const b = bufs[i]!;
          const cuts = [...new Set(fracs.map((f) => Math.floor(f * b.length)))]
            .filter((c) => c > 0 && c < b.length)
            .sort((x, y) => x - y);
          expect(run(b, cuts), rel(files[i]!)).toEqual(whole[i]);
        },
      ),
      { numRuns: 600 },
    );
  });

  it('tiny chunk budgets give the same data in bounded chunks', () => {
    for (let i = 0; i < files.length; i++) {
      const w = whole[i]!;
      if (w.error) continue;
      const sizes: number[] = [];
      const v = new LogVisitor();
      const orig = v.keyElements.bind(v);
      v.keyElements = (c: ValueChunk) => {
        sizes.push(chunkSize(c));
        orig(c);
      };
      const d = new RdbDecoder(v, { maxChunkElements: 3, maxChunkBytes: 64 });
      d.write(bufs[i]!);
      d.end();
      expect(v.log, rel(files[i]!)).toEqual(w.log);
      // stream-pel may carry up to maxChunkElements; consumers carry their own PEL whole.
      for (const s of sizes) expect(s).toBeLessThanOrEqual(3);
    }
  });

  it('a plain string bigger than maxChunkBytes comes out in pieces, the same bytes', () => {
    const b = bufs[files.findIndex((f) => f.endsWith('rdb/redis/test.rdb'))] ?? bufs[0]!;
    const pieces: number[] = [];
    const v = new LogVisitor();
    const orig = v.keyElements.bind(v);
    v.keyElements = (c: ValueChunk) => {
      if (c.kind === 'string') pieces.push(c.data.length);
      orig(c);
    };
    const d = new RdbDecoder(v, { maxChunkBytes: 4 });
    d.write(b);
    d.end();
    expect(Math.max(...pieces)).toBeLessThanOrEqual(4);
    expect(pieces.length).toBeGreaterThan(run(b, []).log.filter((l) => l.startsWith('  string')).length);
    expect(v.log).toEqual(run(b, []).log);
  });
});

function chunkSize(c: ValueChunk): number {
  switch (c.kind) {
    case 'list':
      return c.items.length;
    case 'set':
    case 'zset':
      return c.members.length;
    case 'hash':
      return c.fields.length;
    case 'stream-entries':
    case 'stream-pel':
      return c.ids.length;
    default:
      return 1;
  }
}
