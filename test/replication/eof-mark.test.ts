/**
 * EofMarkScanner: for any RDB (including bytes that look like the start of the mark) and any way of
 * cutting RDB + mark + trailing bytes into reads, the RDB comes out exactly and the mark never does.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EofMarkScanner } from '../../src/replication/eof-mark.js';

// No proper suffix of this mark is a prefix of it (one 'Z', at the start), so "RDB + mark" has only
// one place the mark can be. (A random 40-hex mark from a real master overlaps itself with
// negligible probability; a periodic one would make any scanner ambiguous.)
const MARK = Buffer.from('Z123456789abcdef0123456789abcdef01234567');

function scan(input: Buffer, cuts: number[]): { rdb: Buffer; after: Buffer | null } {
  const s = new EofMarkScanner(MARK);
  const out: Buffer[] = [];
  let after: Buffer | null = null;
  let prev = 0;
  for (const c of [...new Set(cuts)].sort((a, b) => a - b).concat(input.length)) {
    if (c <= prev) continue;
    const r = s.feed(input.subarray(prev, c), (b) => out.push(Buffer.from(b)));
    prev = c;
    if (r !== null) {
      after = Buffer.concat([r, input.subarray(c)]);
      break;
    }
  }
  return { rdb: Buffer.concat(out), after };
}

describe('EofMarkScanner', () => {
  it('splits RDB | mark | rest exactly, whatever the reads', () => {
    const rdbArb = fc
      .array(fc.oneof(fc.uint8Array({ maxLength: 100 }), fc.integer({ min: 1, max: 39 })), { maxLength: 8 })
      .map((parts) =>
        // Integers become prefixes of the mark: the held-tail logic must not take them for the end.
        Buffer.concat(parts.map((p) => (typeof p === 'number' ? MARK.subarray(0, p) : Buffer.from(p)))),
      )
      // The protocol's premise: the mark does not occur in the RDB (nor end inside it). Pieces can
      // join into the whole mark (a 39-byte prefix + its last byte), and then no scanner could tell.
      .filter((rdb) => Buffer.concat([rdb, MARK]).indexOf(MARK) === rdb.length);
    fc.assert(
      fc.property(
        rdbArb,
        fc.uint8Array({ maxLength: 30 }),
        fc.array(fc.nat(400), { maxLength: 10 }),
        (rdb, rest, cuts) => {
          const input = Buffer.concat([rdb, MARK, Buffer.from(rest)]);
          const got = scan(
            input,
            cuts.map((c) => c % (input.length + 1)),
          );
          expect(got.rdb.equals(rdb)).toBe(true);
          expect(got.after?.equals(Buffer.from(rest))).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('byte by byte', () => {
    const rdb = Buffer.concat([Buffer.from('REDIS0010'), MARK.subarray(0, 39), Buffer.from('xyz')]);
    const input = Buffer.concat([rdb, MARK]);
    const got = scan(
      input,
      [...input.keys()].map((i) => i + 1),
    );
    expect(got.rdb.equals(rdb)).toBe(true);
    expect(got.after?.length).toBe(0);
  });

  it('no mark yet: returns null and holds back at most 39 bytes', () => {
    const s = new EofMarkScanner(MARK);
    const out: Buffer[] = [];
    expect(s.feed(Buffer.alloc(1000, 1), (b) => out.push(b))).toBeNull();
    expect(Buffer.concat(out).length).toBe(1000 - 39);
  });
});
