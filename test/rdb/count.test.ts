/**
 * rawElementCount (the sink's empty-key check) against the full decoder on every fixture: wherever it
 * gives a count, the count is the number of elements the decoder delivers for that key; it knows the
 * counts of all the collections in the two corrupt_empty_keys files (every one 0); strings and streams
 * are never counted (an empty string or stream is a real value).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RdbDecoder, rawElementCount } from '../../src/rdb/index.js';
import { HAVE_FIXTURES, LogVisitor, listFiles, rel } from './helpers.js';

interface KeyCount {
  name: string;
  type: string;
  rdbType: number;
  elements: number;
  body: Buffer;
}

function keysOf(file: string): KeyCount[] | null {
  const v = new LogVisitor();
  try {
    const d = new RdbDecoder(v, { onUnsupported: 'skip' });
    d.write(readFileSync(file));
    d.end();
  } catch {
    return null; // corrupt or unsupported on purpose: judged by the decoder tests
  }
  const out: KeyCount[] = [];
  let cur: KeyCount | null = null;
  for (const line of v.log) {
    const m = /^key db=\d+ (\S*) (\w+) t(\d+) /.exec(line);
    if (m) {
      cur = { name: m[1]!, type: m[2]!, rdbType: Number(m[3]), elements: 0, body: Buffer.alloc(0) };
      out.push(cur);
    } else if (cur && /^ {2}(item|member|zmember|field) /.test(line)) cur.elements++;
  }
  out.forEach((k, i) => {
    k.body = v.rawBodies[i]!;
  });
  return out;
}

const files = HAVE_FIXTURES ? listFiles('.rdb') : [];

describe.skipIf(!HAVE_FIXTURES)('rawElementCount', () => {
  it('equals the decoded element count wherever it answers, on every fixture', () => {
    let counted = 0;
    let collections = 0;
    for (const f of files) {
      const keys = keysOf(f);
      if (keys === null) continue;
      for (const k of keys) {
        const n = rawElementCount(k.rdbType, k.body);
        if (k.type === 'string' || k.type === 'stream' || k.type === 'module') {
          expect(n, `${rel(f)} ${k.name}`).toBe(-1);
          continue;
        }
        collections++;
        if (n < 0) continue;
        counted++;
        expect(n, `${rel(f)} key ${k.name} type ${k.rdbType}`).toBe(k.elements);
      }
    }
    console.log(`rawElementCount: ${counted} of ${collections} fixture collections counted from headers`);
    expect(counted).toBeGreaterThan(collections / 2);
  });

  it('counts every key of the corrupt_empty_keys fixtures as 0', () => {
    const empties = files.filter((f) => f.endsWith('corrupt_empty_keys.rdb'));
    expect(empties.length).toBe(2);
    for (const f of empties) {
      const keys = keysOf(f)!;
      expect(keys.length).toBeGreaterThan(5);
      for (const k of keys) {
        expect(k.elements, `${rel(f)} ${k.name}`).toBe(0);
        expect(rawElementCount(k.rdbType, k.body), `${rel(f)} ${k.name} t${k.rdbType}`).toBe(0);
      }
    }
  });

  it('answers -1 for short, LZF-compressed or saturated headers, never throws', () => {
    expect(rawElementCount(10, Buffer.from([0xc3, 0x05, 0x0b]))).toBe(-1); // LZF blob
    expect(rawElementCount(10, Buffer.from([0x0b, 1, 2]))).toBe(-1); // short
    const zl = Buffer.alloc(12);
    zl[0] = 11;
    zl.writeUInt16LE(0xffff, 9); // zllen saturated: count unknown
    expect(rawElementCount(10, zl)).toBe(-1);
    expect(rawElementCount(14, Buffer.from([0x02, 0x01]))).toBe(-1); // 2 nodes, body cut short
    expect(rawElementCount(1, Buffer.alloc(0))).toBe(-1);
    expect(rawElementCount(0, Buffer.from([0x00]))).toBe(-1);
  });
});
