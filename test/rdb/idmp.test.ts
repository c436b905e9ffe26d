/**
 * Stream v4 (type 26, Redis 8.6) IDMP block: delivered as one `stream-idmp` chunk, the last of the key,
 * whose producer and ID counts match what librdb's fixture key names say (`…_prod<P>_ent<E>`: P
 * producers with E IDs each; a producer without IDs is not saved) and librdb's JSON oracle; raw-only
 * keys get no chunk (the raw body carries the block for RESTORE).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { KeyMeta, ValueChunk } from '../../src/records.js';
import { RdbDecoder, type RdbVisitor } from '../../src/rdb/index.js';
import { FIXTURES, HAVE_FIXTURES } from './helpers.js';

type Idmp = Extract<ValueChunk, { kind: 'stream-idmp' }>;

function decode(file: string, decodeValues: boolean): { key: string; idmp: Idmp | null; last: string }[] {
  const out: { key: string; idmp: Idmp | null; last: string }[] = [];
  const v: RdbVisitor = {
    keyStart: (m: KeyMeta) => void out.push({ key: m.key.toString('latin1'), idmp: null, last: '' }),
    keyRaw: () => {},
    keyElements: (c: ValueChunk) => {
      const k = out[out.length - 1]!;
      if (c.kind === 'stream-idmp') k.idmp = { ...c };
      k.last = c.kind;
    },
    keyEnd: () => {},
    functionLibrary: () => {},
  };
  const d = new RdbDecoder(v, { decodeValues });
  d.write(readFileSync(file));
  d.end();
  return out;
}

const V13 = path.join(FIXTURES, 'rdb/librdb/stream_v13.rdb');

describe.skipIf(!HAVE_FIXTURES)('stream v4 IDMP', () => {
  it('one stream-idmp chunk per v4 stream, last, with the producers and IDs the key names declare', () => {
    const keys = decode(V13, true);
    expect(keys.length).toBeGreaterThan(10);
    let withProducers = 0;
    for (const k of keys) {
      expect(k.idmp, k.key).not.toBeNull();
      expect(k.last, k.key).toBe('stream-idmp');
      const m = /_prod(\d+)_ent(\d+)/.exec(k.key);
      if (m === null) continue;
      const [p, e] = [Number(m[1]), Number(m[2])];
      expect(k.idmp!.producers, k.key).toBe(e === 0 ? 0 : p);
      expect(k.idmp!.ids, k.key).toBe(p * e);
      if (k.idmp!.producers > 0) withProducers++;
    }
    expect(withProducers).toBeGreaterThan(5);
  });

  it("matches librdb's oracle for stream_v13_idmp.rdb", () => {
    const o = JSON.parse(
      `{${readFileSync(path.join(FIXTURES, 'rdb/librdb/expected/stream_v13.json'), 'utf8')}}`,
    );
    const want = (Object.values(o)[0] as { idmp: Record<string, unknown> }).idmp as {
      duration: number;
      maxEntries: number;
      numProducers: number;
      producers: { numEntries: number }[];
    };
    const [k] = decode(path.join(FIXTURES, 'rdb/librdb/stream_v13_idmp.rdb'), true);
    expect(k!.idmp).toEqual({
      kind: 'stream-idmp',
      durationSec: want.duration,
      maxSize: want.maxEntries,
      producers: want.numProducers,
      ids: want.producers.reduce((n, p) => n + p.numEntries, 0),
    });
  });

  it('raw-only decoding delivers no IDMP chunk', () => {
    for (const k of decode(V13, false)) expect(k.idmp, k.key).toBeNull();
  });
});
