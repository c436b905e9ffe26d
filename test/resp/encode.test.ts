import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  type CommandArg,
  CommandWriter,
  encodeCommand,
  encodedLength,
  NEED_MORE,
  RespDecoder,
} from '../../src/resp/index.js';

const argArb: fc.Arbitrary<CommandArg> = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ maxLength: 40 }),
  fc.integer(),
  fc.double({ noNaN: true }),
);
const argvArb = fc.array(argArb, { minLength: 1, maxLength: 10 });

function asBuffer(a: CommandArg): Buffer {
  if (typeof a === 'number') {
    return Buffer.from(a === Infinity ? '+inf' : a === -Infinity ? '-inf' : String(a));
  }
  return Buffer.isBuffer(a) ? a : Buffer.from(a, 'utf8');
}

describe('encodeCommand', () => {
  test('fixed vector', () => {
    expect(encodeCommand(['SET', 'k', 12]).toString()).toBe('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n12\r\n');
    expect(encodeCommand(['ZADD', 'z', Infinity, 'm', -1.5]).toString()).toBe(
      '*5\r\n$4\r\nZADD\r\n$1\r\nz\r\n$4\r\n+inf\r\n$1\r\nm\r\n$4\r\n-1.5\r\n',
    );
    expect(encodeCommand([Buffer.from([0, 13, 10])])).toEqual(
      Buffer.from('*1\r\n$3\r\n\x00\r\n\r\n', 'latin1'),
    );
    expect(encodeCommand(['é']).toString()).toBe('*1\r\n$2\r\né\r\n');
    const long = 'x'.repeat(12345);
    expect(encodeCommand([long]).toString()).toBe(`*1\r\n$12345\r\n${long}\r\n`);
  });

  test('random binary argv decodes back exactly', () => {
    fc.assert(
      fc.property(argvArb, (argv) => {
        const wire = encodeCommand(argv);
        expect(wire.length).toBe(encodedLength(argv));
        const d = new RespDecoder();
        d.feed(wire);
        expect(d.next()).toEqual(argv.map(asBuffer));
        expect(d.lastLength).toBe(wire.length);
        expect(d.next()).toBe(NEED_MORE);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('CommandWriter', () => {
  test('writes and takes equal the concatenated single encodings; taken views never change', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(argvArb, fc.boolean()), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 16, max: 2048 }),
        (ops, slab) => {
          const w = new CommandWriter(slab);
          const taken: Buffer[] = [];
          const snapshots: Buffer[] = [];
          let expectAll = Buffer.alloc(0);
          for (const [argv, take] of ops) {
            const n = w.write(argv);
            const one = encodeCommand(argv);
            expect(n).toBe(one.length);
            expectAll = Buffer.concat([expectAll, one]);
            if (take) {
              const t = w.take();
              taken.push(t);
              snapshots.push(Buffer.from(t));
            }
          }
          const last = w.take();
          taken.push(last);
          snapshots.push(Buffer.from(last));
          expect(w.length).toBe(0);
          expect(Buffer.concat(taken)).toEqual(expectAll);
          expect(taken).toEqual(snapshots);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('release(): slabs are reused only once every view taken from them is released; unreleased views never change', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(argvArb, fc.integer({ min: 0, max: 3 }), fc.nat()), {
          minLength: 1,
          maxLength: 60,
        }),
        fc.integer({ min: 16, max: 512 }),
        (ops, slab) => {
          const w = new CommandWriter(slab);
          const out: { view: Buffer; copy: Buffer }[] = [];
          const taken: Buffer[] = [];
          let expectAll = Buffer.alloc(0);
          for (const [argv, action, pick] of ops) {
            w.write(argv);
            expectAll = Buffer.concat([expectAll, encodeCommand(argv)]);
            if (action >= 1) {
              const view = w.take();
              out.push({ view, copy: Buffer.from(view) });
              taken.push(Buffer.from(view));
            }
            if (action >= 2 && out.length > 0) {
              const [r] = out.splice(pick % out.length, 1);
              w.release(r!.view); // written out: its bytes may now be overwritten
            }
            for (const o of out) expect(o.view).toEqual(o.copy);
          }
          taken.push(Buffer.from(w.take()));
          expect(Buffer.concat(taken)).toEqual(expectAll);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('release(): a written-out slab is reused instead of allocating a new one', () => {
    const w = new CommandWriter(64);
    const first: ArrayBufferLike[] = [];
    for (let i = 0; i < 20; i++) {
      w.write(['SET', 'k', 'x'.repeat(30)]); // 57 bytes: each take leaves < a quarter, so the slab moves on
      const v = w.take();
      first.push(v.buffer);
      w.release(v);
    }
    expect(new Set(first).size).toBeLessThanOrEqual(2);
  });

  test('writeRaw appends pre-encoded bytes', () => {
    const w = new CommandWriter(8);
    const ping = encodeCommand(['PING']);
    w.writeRaw(ping);
    w.write(['GET', 'k']);
    expect(w.take()).toEqual(Buffer.concat([ping, encodeCommand(['GET', 'k'])]));
  });
});
