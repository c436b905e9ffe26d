import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { ReplicantError, ServerReplyError } from '../../src/errors.js';
import { encodeCommand, isPush, NEED_MORE, RespDecoder, type RespValue } from '../../src/resp/index.js';
import { encodeNode, expected, nodeArb, normalize } from './gen.js';

/** Feeds `wire` cut at `cuts` and drains after each piece; returns [value, lastLength] pairs. */
function decodeSplit(wire: Buffer, cuts: number[], dec = new RespDecoder()): [RespValue, number][] {
  const out: [RespValue, number][] = [];
  const points = [...new Set(cuts.filter((c) => c > 0 && c < wire.length))].sort((a, b) => a - b);
  let prev = 0;
  for (const p of [...points, wire.length]) {
    dec.feed(Buffer.from(wire.subarray(prev, p))); // a copy: the decoder must not depend on adjacency
    prev = p;
    for (let v = dec.next(); v !== NEED_MORE; v = dec.next()) out.push([v, dec.lastLength]);
  }
  return out;
}

function one(wire: string | Buffer): RespValue {
  const d = new RespDecoder();
  d.feed(typeof wire === 'string' ? Buffer.from(wire, 'latin1') : wire);
  const v = d.next();
  expect(v).not.toBe(NEED_MORE);
  expect(d.buffered).toBe(0);
  return v as RespValue;
}

function protocolError(wire: string, opts = {}): ReplicantError {
  const d = new RespDecoder(opts);
  d.feed(Buffer.from(wire, 'latin1'));
  try {
    while (d.next() !== NEED_MORE);
  } catch (e) {
    expect(e).toBeInstanceOf(ReplicantError);
    expect((e as ReplicantError).code).toBe('ERR_PROTOCOL');
    return e as ReplicantError;
  }
  throw new Error(`no protocol error for ${JSON.stringify(wire)}`);
}

describe('fixed vectors', () => {
  test('RESP2 types', () => {
    expect(one('+OK\r\n')).toBe('OK');
    const err = one('-WRONGTYPE Operation against a key\r\n');
    expect(err).toBeInstanceOf(ServerReplyError);
    expect((err as ServerReplyError).prefix).toBe('WRONGTYPE');
    expect((err as ServerReplyError).message).toBe('WRONGTYPE Operation against a key');
    expect(one(':0\r\n')).toBe(0);
    expect(one(':-42\r\n')).toBe(-42);
    expect(one(':9007199254740991\r\n')).toBe(9007199254740991);
    expect(one(':9007199254740993\r\n')).toBe(9007199254740993n);
    expect(one(':-9223372036854775808\r\n')).toBe(-9223372036854775808n);
    expect(one('$5\r\nhe\r\no\r\n')).toEqual(Buffer.from('he\r\no'));
    expect(one('$0\r\n\r\n')).toEqual(Buffer.alloc(0));
    expect(one('$-1\r\n')).toBeNull();
    expect(one('*-1\r\n')).toBeNull();
    expect(one('*0\r\n')).toEqual([]);
    expect(one('*2\r\n$1\r\na\r\n*1\r\n:1\r\n')).toEqual([Buffer.from('a'), [1]]);
  });

  test('RESP3 types', () => {
    expect(one('_\r\n')).toBeNull();
    expect(one('#t\r\n')).toBe(true);
    expect(one('#f\r\n')).toBe(false);
    expect(one(',1.5\r\n')).toBe(1.5);
    expect(one(',-0.25e3\r\n')).toBe(-250);
    expect(one(',inf\r\n')).toBe(Infinity);
    expect(one(',-inf\r\n')).toBe(-Infinity);
    expect(one(',nan\r\n')).toBeNaN();
    expect(one('(3492890328409238509324850943850943825024385\r\n')).toBe(
      3492890328409238509324850943850943825024385n,
    );
    expect(one('(1\r\n')).toBe(1n);
    expect(one('=15\r\ntxt:Some string\r\n')).toEqual(Buffer.from('Some string'));
    const be = one('!21\r\nSYNTAX invalid syntax\r\n');
    expect(be).toBeInstanceOf(ServerReplyError);
    expect((be as ServerReplyError).prefix).toBe('SYNTAX');
    const m = one('%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n') as Map<RespValue, RespValue>;
    expect(m).toBeInstanceOf(Map);
    expect([...m]).toEqual([
      ['first', 1],
      ['second', 2],
    ]);
    expect(one('~2\r\n+a\r\n+b\r\n')).toEqual(['a', 'b']);
    const p = one('>2\r\n+message\r\n+x\r\n');
    expect(isPush(p)).toBe(true);
    expect([...(p as RespValue[])]).toEqual(['message', 'x']);
    expect(isPush(one('*1\r\n+x\r\n'))).toBe(false);
  });

  test('attributes are skipped but counted, at top level and inside aggregates', () => {
    const d = new RespDecoder();
    const wire =
      '|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*2\r\n:2\r\n|1\r\n+ttl\r\n:3\r\n:3\r\n+OK\r\n';
    d.feed(Buffer.from(wire));
    expect(d.next()).toEqual([2, 3]);
    expect(d.lastLength).toBe(wire.length - 5);
    expect(d.next()).toBe('OK');
    expect(d.lastLength).toBe(5);
    expect(d.next()).toBe(NEED_MORE);
  });

  test('lastLength of a replication-stream command is its exact wire size', () => {
    const cmd = encodeCommand(['SET', Buffer.from([0, 13, 10, 255]), 'v']);
    const d = new RespDecoder();
    d.feed(Buffer.concat([cmd, Buffer.from('*1\r\n$4\r\nPING\r\n')]));
    expect(d.next()).toEqual([Buffer.from('SET'), Buffer.from([0, 13, 10, 255]), Buffer.from('v')]);
    expect(d.lastLength).toBe(cmd.length);
    d.next();
    expect(d.lastLength).toBe(14);
  });

  test('a bulk inside one chunk is a view of it; a bulk spanning chunks is assembled', () => {
    const chunk = Buffer.from('$3\r\nabc\r\n');
    const d = new RespDecoder();
    d.feed(chunk);
    const v = d.next() as Buffer;
    expect(v.buffer).toBe(chunk.buffer);
    d.feed(Buffer.from('$6\r\nab'));
    expect(d.next()).toBe(NEED_MORE);
    d.feed(Buffer.from('cd'));
    expect(d.next()).toBe(NEED_MORE);
    d.feed(Buffer.from('ef\r'));
    expect(d.next()).toBe(NEED_MORE);
    d.feed(Buffer.from('\n'));
    expect(d.next()).toEqual(Buffer.from('abcdef'));
    expect(d.lastLength).toBe(12);
  });

  test('a big bulk fed byte by byte is not re-parsed from its start (linear time)', () => {
    const size = 300_000;
    const wire = Buffer.concat([
      Buffer.from(`*1\r\n$${size}\r\n`),
      Buffer.alloc(size, 7),
      Buffer.from('\r\n'),
    ]);
    const d = new RespDecoder();
    const t0 = Date.now();
    let got: RespValue | typeof NEED_MORE = NEED_MORE;
    for (let i = 0; i < wire.length; i++) {
      d.feed(wire.subarray(i, i + 1));
      got = d.next();
      if (i < wire.length - 1 && got !== NEED_MORE) throw new Error(`value returned early at byte ${i}`);
    }
    expect(Date.now() - t0).toBeLessThan(5000); // quadratic re-parsing would take minutes
    expect((got as Buffer[])[0]!.equals(Buffer.alloc(size, 7))).toBe(true);
    expect(d.lastLength).toBe(wire.length);
  });

  test('readLine: handshake lines and bare \\n keepalives, then values, then takeBuffered', () => {
    const d = new RespDecoder();
    d.feed(Buffer.from('\n\n+FULLRESYNC abc 1'));
    expect(d.readLine()).toEqual(Buffer.alloc(0));
    expect(d.lastLength).toBe(1);
    expect(d.readLine()).toEqual(Buffer.alloc(0));
    expect(d.readLine()).toBe(NEED_MORE);
    d.feed(Buffer.from('23\r\n$5\r\nREDIS'));
    expect(d.readLine()).toEqual(Buffer.from('+FULLRESYNC abc 123'));
    expect(d.lastLength).toBe(21);
    expect(d.buffered).toBe(9);
    expect(d.takeBuffered()).toEqual(Buffer.from('$5\r\nREDIS'));
    expect(d.buffered).toBe(0);
    d.feed(Buffer.from(':1\r\n'));
    expect(d.next()).toBe(1);
    expect(d.lastLength).toBe(4);
  });

  test('takeBuffered and readLine refuse to run inside a value', () => {
    const d = new RespDecoder();
    d.feed(Buffer.from('*2\r\n:1\r\n'));
    expect(d.next()).toBe(NEED_MORE);
    expect(() => d.takeBuffered()).toThrow(ReplicantError);
    expect(() => d.readLine()).toThrow(ReplicantError);
  });
});

describe('protocol errors', () => {
  test('unknown type byte names the offset and the byte', () => {
    const e = protocolError('+OK\r\n?x\r\n');
    expect(e.message).toContain('byte 5');
    expect(e.message).toContain("'?'");
    expect(e.hint).toBeTruthy();
  });

  test('bad framing', () => {
    protocolError('+OK\n');
    protocolError('$3\r\nabcd\r\n');
    protocolError(':12a\r\n');
    protocolError(':\r\n');
    protocolError('#x\r\n');
    protocolError(',abc\r\n');
    protocolError('_x\r\n');
    protocolError('$-2\r\n');
    protocolError('*-5\r\n');
    protocolError('=3\r\nabc\r\n');
    const e = protocolError('\x00\r\n');
    expect(e.message).toContain('0x0');
  });

  test('a bulk cut short across chunks still checks its CRLF', () => {
    const d = new RespDecoder();
    d.feed(Buffer.from('$3\r\nab'));
    expect(d.next()).toBe(NEED_MORE);
    d.feed(Buffer.from('cXY'));
    expect(() => d.next()).toThrow(/not followed by CRLF/);
  });

  test('bogus lengths are refused before any allocation', () => {
    expect(protocolError('$536870913\r\n').message).toContain('exceeds');
    expect(protocolError('$99999999999999999999\r\n').message).toContain('out of range');
    expect(protocolError('*2147483649\r\n').message).toContain('exceeds');
    expect(protocolError('%2147483649\r\n').message).toContain('exceeds');
    protocolError('$11\r\n', { maxBulkBytes: 10 });
    protocolError('*4\r\n', { maxElements: 3 });
    // Within the limit, a huge declared length costs nothing until its bytes arrive.
    const d = new RespDecoder();
    const before = process.memoryUsage().arrayBuffers;
    d.feed(Buffer.from('$536870912\r\nabc'));
    expect(d.next()).toBe(NEED_MORE);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
  });

  test('a line without an end is bounded', () => {
    const d = new RespDecoder({ maxLineBytes: 100 });
    d.feed(Buffer.from(`+${'a'.repeat(50)}`));
    expect(d.next()).toBe(NEED_MORE);
    d.feed(Buffer.from('a'.repeat(60)));
    expect(() => d.next()).toThrow(/no line end/);
  });
});

describe('property tests', () => {
  test('random values, concatenated and split at random points, decode with exact lastLengths', () => {
    fc.assert(
      fc.property(
        fc.array(nodeArb, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (nodes, cutSeeds) => {
          const parts = nodes.map(encodeNode);
          const wire = Buffer.concat(parts);
          const cuts = cutSeeds.map((s) => s % (wire.length + 1));
          const got = decodeSplit(wire, cuts);
          expect(got.map(([v]) => normalize(v))).toEqual(nodes.map(expected));
          expect(got.map(([, n]) => n)).toEqual(parts.map((p) => p.length));
        },
      ),
      { numRuns: 500 },
    );
  });

  test('byte by byte', () => {
    fc.assert(
      fc.property(fc.array(nodeArb, { minLength: 1, maxLength: 4 }), (nodes) => {
        const parts = nodes.map(encodeNode);
        const wire = Buffer.concat(parts);
        const got = decodeSplit(
          wire,
          Array.from({ length: wire.length }, (_, i) => i),
        );
        expect(got.map(([v]) => normalize(v))).toEqual(nodes.map(expected));
        expect(got.map(([, n]) => n)).toEqual(parts.map((p) => p.length));
      }),
      { numRuns: 150 },
    );
  });

  test('feeding several chunks before draining gives the same result', () => {
    fc.assert(
      fc.property(fc.array(nodeArb, { minLength: 1, maxLength: 6 }), fc.nat(), (nodes, seed) => {
        const wire = Buffer.concat(nodes.map(encodeNode));
        const d = new RespDecoder();
        const step = 1 + (seed % 17);
        const out: unknown[] = [];
        for (let i = 0; i < wire.length; i += step) {
          d.feed(wire.subarray(i, i + step));
          if ((i / step) % 3 === 2)
            for (let v = d.next(); v !== NEED_MORE; v = d.next()) out.push(normalize(v));
        }
        for (let v = d.next(); v !== NEED_MORE; v = d.next()) out.push(normalize(v));
        expect(out).toEqual(nodes.map(expected));
      }),
      { numRuns: 200 },
    );
  });
});
