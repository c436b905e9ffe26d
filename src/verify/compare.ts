/**
 * Key-by-key comparison of two servers, one batch of keys at a time, for `replicant verify`.
 *
 * A batch costs three pipelined round trips per side: TYPE + PTTL, then the size (STRLEN / LLEN /
 * SCARD / ZCARD / HLEN / XLEN), then the whole value of every small key. Keys above `bigElements`
 * elements (or `bigBytes` for strings) are compared in chunks afterwards (GETRANGE, LRANGE/ZRANGE
 * windows, SSCAN + SISMEMBER, HSCAN + HMGET, XRANGE pages), so memory stays bounded by the chunk
 * size whatever the key. Both connections must already be on the DBs being compared.
 *
 * What "equal" means per type: strings and lists byte for byte in order; sets and hashes as
 * unordered collections; zsets member for member in rank order with scores equal as doubles (two
 * servers may print the same double differently); streams entry for entry with IDs, the stream's
 * last-generated-id, each group's last-delivered-id, consumer names with their pending counts, and
 * the PEL (entry, owner, delivery count). Not compared: idle times (they tick), and a group's
 * entries-read — Redis 7.0 replicates XREADGROUP as XCLAIM, so even a native replica differs there.
 */
import type { RedisConnection } from '../net/index.js';
import type { CommandArg, RespValue } from '../resp/index.js';
import { pipeline, replyError } from './pipe.js';

export type DiffKind = 'missing' | 'extra' | 'type' | 'value' | 'ttl';
export const DIFF_KINDS: readonly DiffKind[] = ['missing', 'extra', 'type', 'value', 'ttl'];

/** One key found different. */
export interface KeyDiff {
  key: Buffer;
  kind: DiffKind;
  /** Human detail: "list length 10 vs 9", "element 3 differs", "ttl 5000 ms vs none". */
  detail: string;
  /** The source's type ('none' when the key is gone from the source). */
  type: string;
}

export interface CompareOptions {
  /** TTLs within this many milliseconds are equal. */
  ttlToleranceMs: number;
  /** Collections above this many elements are compared in chunks. Default 1000. */
  bigElements?: number;
  /** Strings above this many bytes are compared in chunks. Default 1 MiB. */
  bigBytes?: number;
}

export interface BatchResult {
  diffs: KeyDiff[];
  /** Keys equal on both sides. */
  equal: number;
  /** Keys gone from both sides by the time they were read (deleted or expired meanwhile). */
  vanished: number;
}

const SIZE_CMD: Record<string, string> = {
  string: 'STRLEN',
  list: 'LLEN',
  set: 'SCARD',
  zset: 'ZCARD',
  hash: 'HLEN',
  stream: 'XLEN',
};

const str = (v: RespValue): string => (Buffer.isBuffer(v) ? v.toString('latin1') : String(v));

async function both(
  src: RedisConnection,
  dst: RedisConnection,
  s: CommandArg[][],
  d: CommandArg[][] = s,
): Promise<[RespValue[], RespValue[]]> {
  return Promise.all([pipeline(src, s), pipeline(dst, d)]);
}

/** Compare `keys` (names on the source; the same names on the target). */
export async function compareKeys(
  src: RedisConnection,
  dst: RedisConnection,
  keys: readonly Buffer[],
  opts: CompareOptions,
): Promise<BatchResult> {
  const bigElements = opts.bigElements ?? 1000;
  const bigBytes = opts.bigBytes ?? 1024 * 1024;
  const res: BatchResult = { diffs: [], equal: 0, vanished: 0 };
  if (keys.length === 0) return res;

  // 1. TYPE + PTTL.
  const meta: CommandArg[][] = [];
  for (const k of keys) meta.push(['TYPE', k], ['PTTL', k]);
  const [sm, dm] = await both(src, dst, meta);
  const same: number[] = [];
  const ttlDiff = new Map<number, string>();
  for (let i = 0; i < keys.length; i++) {
    const st = str(sm[2 * i]!);
    const dt = str(dm[2 * i]!);
    const key = keys[i]!;
    if (replyError(sm[2 * i]!) || replyError(dm[2 * i]!)) {
      throw replyError(sm[2 * i]!) ?? replyError(dm[2 * i]!)!;
    }
    if (st === 'none' && dt === 'none') {
      res.vanished++;
      continue;
    }
    if (st === 'none') {
      res.diffs.push({
        key,
        kind: 'extra',
        detail: `a ${dt} on the target, none on the source`,
        type: 'none',
      });
      continue;
    }
    if (dt === 'none') {
      res.diffs.push({ key, kind: 'missing', detail: `a ${st} on the source, none on the target`, type: st });
      continue;
    }
    if (st !== dt) {
      res.diffs.push({ key, kind: 'type', detail: `a ${st} on the source, a ${dt} on the target`, type: st });
      continue;
    }
    const t = ttlDifference(Number(sm[2 * i + 1]), Number(dm[2 * i + 1]), opts.ttlToleranceMs);
    if (t !== null) ttlDiff.set(i, t);
    same.push(i);
  }

  // 2. Sizes.
  const sizeCmds: CommandArg[][] = [];
  const typed: number[] = [];
  for (const i of same) {
    const cmd = SIZE_CMD[str(sm[2 * i]!)];
    if (cmd === undefined) continue; // a module type: compared by DUMP below
    typed.push(i);
    sizeCmds.push([cmd, keys[i]!]);
  }
  const [ss, ds] = await both(src, dst, sizeCmds);
  const small: number[] = [];
  const big: { i: number; size: number }[] = [];
  const valueDiff = new Map<number, string>();
  for (let j = 0; j < typed.length; j++) {
    const i = typed[j]!;
    const type = str(sm[2 * i]!);
    const a = Number(ss[j]);
    const b = Number(ds[j]);
    if (a !== b) {
      valueDiff.set(
        i,
        `${type} ${type === 'string' ? 'length' : 'size'} ${a} on the source, ${b} on the target`,
      );
      continue;
    }
    if (a > (type === 'string' ? bigBytes : bigElements)) big.push({ i, size: a });
    else small.push(i);
  }
  // Module types: byte-equal DUMP payloads (no structure we could compare).
  const modules = same.filter((i) => SIZE_CMD[str(sm[2 * i]!)] === undefined);

  // 3. Whole values of small keys.
  const fetch: CommandArg[][] = [];
  for (const i of small) fetch.push(fetchCmd(str(sm[2 * i]!), keys[i]!));
  for (const i of modules) fetch.push(['DUMP', keys[i]!]);
  const [sv, dv] = await both(src, dst, fetch);
  for (let j = 0; j < small.length; j++) {
    const i = small[j]!;
    const d = diffValue(str(sm[2 * i]!), sv[j]!, dv[j]!);
    if (d !== null) valueDiff.set(i, d);
  }
  for (let j = 0; j < modules.length; j++) {
    const a = sv[small.length + j]!;
    const b = dv[small.length + j]!;
    if (!(Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b)))
      valueDiff.set(modules[j]!, 'module value: DUMP payloads differ');
  }
  // Streams: groups, consumers, PEL, last id (small and big alike).
  for (const i of same) {
    if (str(sm[2 * i]!) !== 'stream' || valueDiff.has(i)) continue;
    const d = await diffStreamMeta(src, dst, keys[i]!);
    if (d !== null) valueDiff.set(i, d);
  }
  for (const { i, size } of big) {
    if (valueDiff.has(i)) continue;
    const d = await diffBig(src, dst, str(sm[2 * i]!), keys[i]!, size, bigElements, bigBytes);
    if (d !== null) valueDiff.set(i, d);
  }

  for (const i of same) {
    const type = str(sm[2 * i]!);
    const v = valueDiff.get(i);
    const t = ttlDiff.get(i);
    if (v !== undefined) res.diffs.push({ key: keys[i]!, kind: 'value', detail: v, type });
    else if (t !== undefined) res.diffs.push({ key: keys[i]!, kind: 'ttl', detail: t, type });
    else res.equal++;
  }
  return res;
}

/** PTTL replies: -1 no TTL, -2 gone (counted as no TTL here: TYPE said it exists), else ms left. */
export function ttlDifference(a: number, b: number, tolerance: number): string | null {
  const fa = a >= 0;
  const fb = b >= 0;
  if (!fa && !fb) return null;
  if (fa && fb)
    return Math.abs(a - b) <= tolerance ? null : `ttl ${a} ms on the source, ${b} ms on the target`;
  return fa ? `ttl ${a} ms on the source, none on the target` : `no ttl on the source, ${b} ms on the target`;
}

function fetchCmd(type: string, key: Buffer): CommandArg[] {
  switch (type) {
    case 'string':
      return ['GET', key];
    case 'list':
      return ['LRANGE', key, 0, -1];
    case 'set':
      return ['SMEMBERS', key];
    case 'zset':
      return ['ZRANGE', key, 0, -1, 'WITHSCORES'];
    case 'hash':
      return ['HGETALL', key];
    default:
      return ['XRANGE', key, '-', '+'];
  }
}

/** Parse a score the way the server printed it (`inf`, `-inf`, `1.5e+20`). */
export function parseScoreText(v: RespValue): number {
  const s = str(v).toLowerCase();
  if (s === 'inf' || s === '+inf') return Number.POSITIVE_INFINITY;
  if (s === '-inf') return Number.NEGATIVE_INFINITY;
  return Number(s);
}

const asList = (v: RespValue): RespValue[] => {
  if (v instanceof Error) throw v;
  return Array.isArray(v) ? v : [];
};

function bufEq(a: RespValue, b: RespValue): boolean {
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  return str(a) === str(b);
}

function sortedBufs(v: RespValue): Buffer[] {
  return (asList(v) as Buffer[]).slice().sort(Buffer.compare);
}

function pairs(v: RespValue): [Buffer, Buffer][] {
  const l = asList(v) as Buffer[];
  const out: [Buffer, Buffer][] = [];
  for (let i = 0; i + 1 < l.length; i += 2) out.push([l[i]!, l[i + 1]!]);
  return out;
}

/** Null when equal, else a short description of the first difference. */
export function diffValue(type: string, a: RespValue, b: RespValue): string | null {
  switch (type) {
    case 'string':
      return bufEq(a, b) ? null : 'string value differs';
    case 'list':
      return diffSeq(asList(a), asList(b), 0, 'list element');
    case 'set': {
      const x = sortedBufs(a);
      const y = sortedBufs(b);
      if (x.length !== y.length) return `set size ${x.length} vs ${y.length}`;
      for (let i = 0; i < x.length; i++) if (!x[i]!.equals(y[i]!)) return `set member ${show(x[i]!)} differs`;
      return null;
    }
    case 'hash': {
      const x = pairs(a).sort((p, q) => Buffer.compare(p[0], q[0]));
      const y = pairs(b).sort((p, q) => Buffer.compare(p[0], q[0]));
      if (x.length !== y.length) return `hash size ${x.length} vs ${y.length}`;
      for (let i = 0; i < x.length; i++) {
        if (!x[i]![0].equals(y[i]![0])) return `hash field ${show(x[i]![0])} differs`;
        if (!x[i]![1].equals(y[i]![1])) return `hash field ${show(x[i]![0])} has another value`;
      }
      return null;
    }
    case 'zset':
      return diffZset(pairs(a), pairs(b), 0);
    case 'stream':
      return diffEntries(asList(a), asList(b), 'stream entry');
    default:
      return bufEq(a, b) ? null : `${type} value differs`;
  }
}

function show(b: Buffer): string {
  const s = b.toString('utf8');
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
}

function diffSeq(x: RespValue[], y: RespValue[], base: number, what: string): string | null {
  if (x.length !== y.length) return `${what}s from ${base}: ${x.length} vs ${y.length}`;
  for (let i = 0; i < x.length; i++) if (!bufEq(x[i]!, y[i]!)) return `${what} ${base + i} differs`;
  return null;
}

function diffZset(x: [Buffer, Buffer][], y: [Buffer, Buffer][], base: number): string | null {
  if (x.length !== y.length) return `zset members from rank ${base}: ${x.length} vs ${y.length}`;
  for (let i = 0; i < x.length; i++) {
    if (!x[i]![0].equals(y[i]![0])) return `zset member at rank ${base + i} differs (${show(x[i]![0])})`;
    const sa = parseScoreText(x[i]![1]);
    const sb = parseScoreText(y[i]![1]);
    if (!(sa === sb || (Number.isNaN(sa) && Number.isNaN(sb))))
      return `zset member ${show(x[i]![0])} has score ${str(x[i]![1])} vs ${str(y[i]![1])}`;
  }
  return null;
}

/** XRANGE replies: [[id, [f, v, …]], …]. */
function diffEntries(x: RespValue[], y: RespValue[], what: string): string | null {
  if (x.length !== y.length) return `${what} count ${x.length} vs ${y.length}`;
  for (let i = 0; i < x.length; i++) {
    const [ia, fa] = x[i] as [Buffer, Buffer[]];
    const [ib, fb] = y[i] as [Buffer, Buffer[]];
    if (!ia.equals(ib)) return `${what} ${str(ia)} vs ${str(ib)}`;
    if (diffSeq(fa, fb, 0, 'field') !== null) return `${what} ${str(ia)} has other fields`;
  }
  return null;
}

/** A flat [name, value, name, value…] reply (RESP2 XINFO) or a RESP3 map → Map by name. */
function fields(v: RespValue): Map<string, RespValue> {
  const m = new Map<string, RespValue>();
  if (v instanceof Map) for (const [k, val] of v) m.set(str(k), val);
  else {
    const l = asList(v);
    for (let i = 0; i + 1 < l.length; i += 2) m.set(str(l[i]!), l[i + 1]!);
  }
  return m;
}

interface StreamMeta {
  lastId: string;
  /** Present only on 7.0+. */
  entriesAdded?: string;
  maxDeleted?: string;
  groups: Map<string, { lastDelivered: string; pending: number; consumers: string; pel: string }>;
}

const PEL_PAGE = 1000;

async function streamMeta(conn: RedisConnection, key: Buffer): Promise<StreamMeta> {
  const [info, groups] = await pipeline(conn, [
    ['XINFO', 'STREAM', key],
    ['XINFO', 'GROUPS', key],
  ]);
  const f = fields(info!);
  const meta: StreamMeta = { lastId: str(f.get('last-generated-id') ?? ''), groups: new Map() };
  if (f.has('entries-added')) meta.entriesAdded = str(f.get('entries-added')!);
  if (f.has('max-deleted-entry-id')) meta.maxDeleted = str(f.get('max-deleted-entry-id')!);
  for (const g of asList(groups!)) {
    const gf = fields(g);
    const name = str(gf.get('name')!);
    const [cons] = await pipeline(conn, [['XINFO', 'CONSUMERS', key, name]]);
    const consumers = asList(cons!)
      .map((c) => {
        const cf = fields(c);
        return `${str(cf.get('name')!)}:${str(cf.get('pending')!)}`;
      })
      .sort()
      .join(',');
    // PEL pages: id, owner, delivery count (idle time ticks, so it is left out).
    const pel: string[] = [];
    let start = '-';
    for (;;) {
      const [page] = await pipeline(conn, [['XPENDING', key, name, start, '+', PEL_PAGE]]);
      const rows = asList(page!) as RespValue[][];
      for (const r of rows) pel.push(`${str(r[0]!)}/${str(r[1]!)}/${str(r[3]!)}`);
      if (rows.length < PEL_PAGE) break;
      start = nextId(str(rows[rows.length - 1]![0]!));
    }
    meta.groups.set(name, {
      lastDelivered: str(gf.get('last-delivered-id')!),
      pending: Number(gf.get('pending')),
      consumers,
      pel: pel.join(','),
    });
  }
  return meta;
}

async function diffStreamMeta(
  src: RedisConnection,
  dst: RedisConnection,
  key: Buffer,
): Promise<string | null> {
  const [a, b] = await Promise.all([streamMeta(src, key), streamMeta(dst, key)]);
  if (a.lastId !== b.lastId) return `stream last-generated-id ${a.lastId} vs ${b.lastId}`;
  if (a.entriesAdded !== undefined && b.entriesAdded !== undefined && a.entriesAdded !== b.entriesAdded)
    return `stream entries-added ${a.entriesAdded} vs ${b.entriesAdded}`;
  if (a.maxDeleted !== undefined && b.maxDeleted !== undefined && a.maxDeleted !== b.maxDeleted)
    return `stream max-deleted-entry-id ${a.maxDeleted} vs ${b.maxDeleted}`;
  const names = [...new Set([...a.groups.keys(), ...b.groups.keys()])].sort();
  for (const n of names) {
    const ga = a.groups.get(n);
    const gb = b.groups.get(n);
    if (!ga || !gb)
      return `stream group ${JSON.stringify(n)} ${ga ? 'missing on the target' : 'only on the target'}`;
    if (ga.lastDelivered !== gb.lastDelivered)
      return `stream group ${JSON.stringify(n)} last-delivered-id ${ga.lastDelivered} vs ${gb.lastDelivered}`;
    if (ga.consumers !== gb.consumers) return `stream group ${JSON.stringify(n)} consumers differ`;
    if (ga.pending !== gb.pending || ga.pel !== gb.pel)
      return `stream group ${JSON.stringify(n)} pending entries differ (${ga.pending} vs ${gb.pending})`;
  }
  return null;
}

/** The smallest stream ID after `id` (`ms-seq` + 1), for exclusive paging on any server version. */
export function nextId(id: string): string {
  const [ms, seq] = id.split('-') as [string, string];
  const s = BigInt(seq ?? '0');
  if (s < 0xffffffffffffffffn) return `${ms}-${s + 1n}`;
  return `${BigInt(ms) + 1n}-0`;
}

/** Chunked comparison of one big key whose sizes are equal on both sides. */
async function diffBig(
  src: RedisConnection,
  dst: RedisConnection,
  type: string,
  key: Buffer,
  size: number,
  chunk: number,
  bytes: number,
): Promise<string | null> {
  switch (type) {
    case 'string':
      for (let off = 0; off < size; off += bytes) {
        const [[a], [b]] = await both(src, dst, [['GETRANGE', key, off, off + bytes - 1]]);
        if (!bufEq(a!, b!)) return `string bytes from ${off} differ`;
      }
      return null;
    case 'list':
    case 'zset':
      for (let i = 0; i < size; i += chunk) {
        const cmd: CommandArg[] =
          type === 'list'
            ? ['LRANGE', key, i, i + chunk - 1]
            : ['ZRANGE', key, i, i + chunk - 1, 'WITHSCORES'];
        const [[a], [b]] = await both(src, dst, [cmd]);
        const d =
          type === 'list'
            ? diffSeq(asList(a!), asList(b!), i, 'list element')
            : diffZset(pairs(a!), pairs(b!), i);
        if (d !== null) return d;
      }
      return null;
    case 'set':
    case 'hash': {
      // Sizes are equal, so "every source element is on the target, with its value" means equal.
      let cursor = '0';
      do {
        const [page] = await pipeline(src, [
          [type === 'set' ? 'SSCAN' : 'HSCAN', key, cursor, 'COUNT', chunk],
        ]);
        const [c, items] = asList(page!) as [Buffer, Buffer[]];
        cursor = str(c);
        if (type === 'set') {
          const r = await pipeline(
            dst,
            items.map((m) => ['SISMEMBER', key, m]),
          );
          const at = r.findIndex((x) => Number(x) !== 1);
          if (at !== -1) return `set member ${show(items[at]!)} missing on the target`;
        } else {
          const fieldsOf = items.filter((_, i) => i % 2 === 0);
          if (fieldsOf.length === 0) continue;
          const [vals] = await pipeline(dst, [['HMGET', key, ...fieldsOf]]);
          const got = asList(vals!);
          for (let i = 0; i < fieldsOf.length; i++)
            if (!(Buffer.isBuffer(got[i]) && (got[i] as Buffer).equals(items[2 * i + 1]!)))
              return `hash field ${show(fieldsOf[i]!)} differs`;
        }
      } while (cursor !== '0');
      return null;
    }
    case 'stream': {
      let start = '-';
      for (;;) {
        const [[a], [b]] = await both(src, dst, [['XRANGE', key, start, '+', 'COUNT', chunk]]);
        const x = asList(a!);
        const d = diffEntries(x, asList(b!), 'stream entry');
        if (d !== null) return d;
        if (x.length < chunk) return null;
        start = nextId(str((x[x.length - 1] as RespValue[])[0]!));
      }
    }
    default:
      return null;
  }
}
