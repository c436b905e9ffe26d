/**
 * Test-side RESP model: random value trees, an independent wire encoder for them, and the value the
 * decoder must return (normalised so Buffers, Maps, errors and NaN compare structurally).
 */
import fc from 'fast-check';
import { ServerReplyError } from '../../src/errors.js';
import { isPush, type RespValue } from '../../src/resp/index.js';

export type Node =
  | { t: 'simple'; s: string }
  | { t: 'err'; s: string }
  | { t: 'int'; n: bigint }
  | { t: 'bulk'; b: Uint8Array }
  | { t: 'nullbulk' }
  | { t: 'nullarr' }
  | { t: 'null' }
  | { t: 'bool'; b: boolean }
  | { t: 'double'; d: number }
  | { t: 'big'; n: bigint }
  | { t: 'verb'; b: Uint8Array }
  | { t: 'blobErr'; s: string }
  | { t: 'arr' | 'set' | 'push'; items: Node[] }
  | { t: 'map'; pairs: [Node, Node][] }
  | { t: 'attr'; pairs: [Node, Node][]; value: Node };

const line = fc.string({ maxLength: 20 }).filter((s) => !/[\r\n]/.test(s));

const bulkArb: fc.Arbitrary<Node> = fc.record({
  t: fc.constant('bulk' as const),
  b: fc.uint8Array({ maxLength: 300 }),
});

export const nodeArb: fc.Arbitrary<Node> = fc.letrec<{ node: Node }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ t: fc.constant('simple' as const), s: line }),
    fc.record({ t: fc.constant('err' as const), s: line.map((s) => `ERR ${s}`) }),
    fc.record({ t: fc.constant('int' as const), n: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }) }),
    fc.record({ t: fc.constant('int' as const), n: fc.integer().map(BigInt) }),
    bulkArb,
    fc.constant({ t: 'nullbulk' as const }),
    fc.constant({ t: 'nullarr' as const }),
    fc.constant({ t: 'null' as const }),
    fc.record({ t: fc.constant('bool' as const), b: fc.boolean() }),
    fc.record({ t: fc.constant('double' as const), d: fc.double() }),
    fc.record({ t: fc.constant('big' as const), n: fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }) }),
    fc.record({ t: fc.constant('verb' as const), b: fc.uint8Array({ maxLength: 50 }) }),
    fc.record({ t: fc.constant('blobErr' as const), s: fc.string({ maxLength: 30 }) }),
    fc.record({
      t: fc.constantFrom('arr' as const, 'set' as const, 'push' as const),
      items: fc.array(tie('node'), { maxLength: 5 }),
    }),
    // Map keys are bulk strings (what servers send); Buffers are distinct Map keys, so none collapse.
    fc.record({
      t: fc.constant('map' as const),
      pairs: fc.array(fc.tuple(bulkArb, tie('node')), { maxLength: 3 }),
    }),
    fc.record({
      t: fc.constant('attr' as const),
      pairs: fc.array(fc.tuple(tie('node'), tie('node')), { maxLength: 2 }),
      value: tie('node'),
    }),
  ),
})).node;

function bulk(prefix: string, b: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`${prefix}${b.length}\r\n`), b, Buffer.from('\r\n')]);
}

export function encodeNode(n: Node): Buffer {
  switch (n.t) {
    case 'simple':
      return Buffer.from(`+${n.s}\r\n`);
    case 'err':
      return Buffer.from(`-${n.s}\r\n`);
    case 'int':
      return Buffer.from(`:${n.n}\r\n`);
    case 'bulk':
      return bulk('$', n.b);
    case 'nullbulk':
      return Buffer.from('$-1\r\n');
    case 'nullarr':
      return Buffer.from('*-1\r\n');
    case 'null':
      return Buffer.from('_\r\n');
    case 'bool':
      return Buffer.from(`#${n.b ? 't' : 'f'}\r\n`);
    case 'double': {
      const d = n.d;
      const s = Number.isNaN(d) ? 'nan' : d === Infinity ? 'inf' : d === -Infinity ? '-inf' : String(d);
      return Buffer.from(`,${s}\r\n`);
    }
    case 'big':
      return Buffer.from(`(${n.n}\r\n`);
    case 'verb':
      return bulk('=', Buffer.concat([Buffer.from('txt:'), n.b]));
    case 'blobErr':
      return bulk('!', Buffer.from(n.s));
    case 'arr':
    case 'set':
    case 'push': {
      const p = n.t === 'arr' ? '*' : n.t === 'set' ? '~' : '>';
      return Buffer.concat([Buffer.from(`${p}${n.items.length}\r\n`), ...n.items.map(encodeNode)]);
    }
    case 'map':
      return Buffer.concat([Buffer.from(`%${n.pairs.length}\r\n`), ...n.pairs.flat().map(encodeNode)]);
    case 'attr':
      return Buffer.concat([
        Buffer.from(`|${n.pairs.length}\r\n`),
        ...n.pairs.flat().map(encodeNode),
        encodeNode(n.value),
      ]);
  }
}

/** What the decoder must return for `n`, normalised. */
export function expected(n: Node): unknown {
  switch (n.t) {
    case 'simple':
      return n.s;
    case 'err':
      return { err: n.s };
    case 'int':
      return n.n >= BigInt(Number.MIN_SAFE_INTEGER) && n.n <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(n.n)
        : n.n;
    case 'bulk':
    case 'verb':
      return { buf: Buffer.from(n.b).toString('hex') };
    case 'nullbulk':
    case 'nullarr':
    case 'null':
      return null;
    case 'bool':
      return n.b;
    case 'double':
      return Number.isNaN(n.d) ? 'NaN' : Object.is(n.d, -0) ? 0 : n.d;
    case 'big':
      return n.n;
    case 'blobErr':
      return { err: Buffer.from(n.s).toString('utf8') };
    case 'arr':
    case 'set':
      return n.items.map(expected);
    case 'push':
      return { push: n.items.map(expected) };
    case 'map':
      return { map: n.pairs.map(([k, v]) => [expected(k), expected(v)]) };
    case 'attr':
      return expected(n.value);
  }
}

/** Normalises a decoded value into the shape `expected` builds. */
export function normalize(v: RespValue): unknown {
  if (v instanceof ServerReplyError) return { err: v.message };
  if (Buffer.isBuffer(v)) return { buf: v.toString('hex') };
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : Object.is(v, -0) ? 0 : v;
  if (v instanceof Map) return { map: [...v].map(([k, x]) => [normalize(k), normalize(x)]) };
  if (isPush(v)) return { push: v.map(normalize) };
  if (Array.isArray(v)) return v.map(normalize);
  return v;
}
