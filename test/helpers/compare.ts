/**
 * compareServers: every key of the source against the target, type by type, through ioredis (an
 * independent client). Buffer-exact values; lists in order; sets/hashes order-independent; zsets with
 * exact scores; streams entry by entry plus XINFO STREAM/GROUPS/CONSUMERS and XPENDING (owner,
 * delivery count); PTTL within a tolerance; function libraries. SCAN-based and chunked, so big keys
 * are read in pieces. Also reports keys that exist only on the target.
 */
import type { Redis } from 'ioredis';

export interface CompareOptions {
  /** Source DBs to compare; default every DB either server reports in INFO keyspace. */
  dbs?: number[];
  /** Source DB → target DB; unmapped DBs compare with the same number. */
  dbMap?: Record<number, number> | [number, number][];
  ttlToleranceMs?: number;
  /** Key names to leave out (e.g. the heartbeat key). */
  ignoreKeys?: (string | Buffer)[];
  /** Compare FUNCTION LIST WITHCODE too (default true). */
  functions?: boolean;
  /**
   * Leave XINFO GROUPS `entries-read` and `lag` out. Redis 7.0's own replicas diverge there after a
   * live stream of XREADGROUP/XCLAIM/XTRIM (checked with REPLICAOF under runWriteLoad), so a live
   * copy can only be held to it where a real replica would be. Default false (exact).
   */
  ignoreEntriesRead?: boolean;
  /**
   * Leave out consumers that hold no pending entries (and groups' consumer counts). Redis 5.0's XCLAIM
   * and Valkey's XREADGROUP create a consumer without replicating anything when they claim/read
   * nothing: a native replica of those sources diverges the same way.
   */
  ignoreEmptyConsumers?: boolean;
  /** Stop collecting after this many diffs (default 100). */
  maxDiffs?: number;
}

export interface Diff {
  db: number;
  /** Printable key (binary bytes escaped). */
  key: string;
  kind: 'missing' | 'extra' | 'type' | 'value' | 'ttl' | 'functions';
  detail: string;
}

export interface CompareResult {
  diffs: Diff[];
  keysCompared: number;
}

const CHUNK = 1000;

export function printable(b: Buffer): string {
  let s = '';
  for (const c of b)
    s +=
      c >= 0x20 && c < 0x7f && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  return s;
}

async function keyspaceDbs(c: Redis): Promise<number[]> {
  const info = await c.info('keyspace');
  return [...info.matchAll(/^db(\d+):keys=(\d+)/gm)].filter((m) => Number(m[2]) > 0).map((m) => Number(m[1]));
}

async function scanAll(c: Redis): Promise<Buffer[]> {
  const out: Buffer[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await c.scanBuffer(cursor, 'COUNT', 1000);
    cursor = String(next);
    out.push(...keys);
  } while (cursor !== '0');
  return out;
}

export async function compareServers(
  source: Redis,
  target: Redis,
  opts: CompareOptions = {},
): Promise<CompareResult> {
  const map = new Map<number, number>(
    Array.isArray(opts.dbMap) ? opts.dbMap : Object.entries(opts.dbMap ?? {}).map(([s, t]) => [Number(s), t]),
  );
  const tol = opts.ttlToleranceMs ?? 1000;
  const max = opts.maxDiffs ?? 100;
  const ignore = new Set((opts.ignoreKeys ?? []).map((k) => Buffer.from(k).toString('hex')));
  const diffs: Diff[] = [];
  let keysCompared = 0;
  let dbs = opts.dbs;
  if (!dbs) {
    const s = await keyspaceDbs(source);
    const t = (await keyspaceDbs(target)).map((tdb) => [...map].find(([, v]) => v === tdb)?.[0] ?? tdb);
    dbs = [...new Set([...s, ...t])].sort((a, b) => a - b);
  }
  for (const db of dbs) {
    const tdb = map.get(db) ?? db;
    const sc = source.duplicate({ db });
    const tc = target.duplicate({ db: tdb });
    try {
      const skeys = (await scanAll(sc)).filter((k) => !ignore.has(k.toString('hex')));
      const tkeys = new Set((await scanAll(tc)).map((k) => k.toString('hex')));
      for (let i = 0; i < skeys.length && diffs.length < max; i += 100) {
        const part = skeys.slice(i, i + 100);
        const meta = await Promise.all([typesAndTtls(sc, part), typesAndTtls(tc, part)]);
        for (let j = 0; j < part.length && diffs.length < max; j++) {
          const key = part[j]!;
          tkeys.delete(key.toString('hex'));
          keysCompared++;
          const [st, sttl] = meta[0][j]!;
          const [tt, tttl] = meta[1][j]!;
          const d = (kind: Diff['kind'], detail: string) =>
            diffs.push({ db, key: printable(key), kind, detail });
          if (st === 'none') continue; // expired/deleted between SCAN and TYPE
          if (tt === 'none') d('missing', `type ${st} missing on target db ${tdb}`);
          else if (st !== tt) d('type', `source ${st}, target ${tt}`);
          else {
            const why = await compareValue(
              sc,
              tc,
              key,
              st,
              opts.ignoreEntriesRead ?? false,
              opts.ignoreEmptyConsumers ?? false,
            );
            if (why) d('value', why);
            else if ((sttl < 0 || tttl < 0) && sttl !== tttl) d('ttl', `pttl source ${sttl}, target ${tttl}`);
            else if (sttl >= 0 && Math.abs(sttl - tttl) > tol)
              d('ttl', `pttl source ${sttl}, target ${tttl} (tolerance ${tol})`);
          }
        }
      }
      for (const hex of tkeys) {
        if (diffs.length >= max || ignore.has(hex)) continue;
        diffs.push({
          db,
          key: printable(Buffer.from(hex, 'hex')),
          kind: 'extra',
          detail: `only on target db ${tdb}`,
        });
      }
    } finally {
      sc.disconnect();
      tc.disconnect();
    }
  }
  if (opts.functions !== false && diffs.length < max) {
    const [a, b] = await Promise.all([functionList(source), functionList(target)]);
    if (a !== b) diffs.push({ db: -1, key: '', kind: 'functions', detail: `source ${a}\ntarget ${b}` });
  }
  return { diffs, keysCompared };
}

async function typesAndTtls(c: Redis, keys: Buffer[]): Promise<[string, number][]> {
  const p = c.pipeline();
  for (const k of keys) p.type(k).pttl(k);
  const r = (await p.exec()) ?? [];
  const out: [string, number][] = [];
  for (let i = 0; i < keys.length; i++) out.push([String(r[2 * i]![1]), Number(r[2 * i + 1]![1])]);
  return out;
}

async function functionList(c: Redis): Promise<string> {
  // Before 7.0 there are no functions: an empty list.
  const r = (await c.call('FUNCTION', 'LIST', 'WITHCODE').catch(() => [])) as unknown[];
  return JSON.stringify(r.map((lib) => JSON.stringify(lib)).sort());
}

const hex = (b: Buffer) => b.toString('hex');

function sameSet(a: string[], b: string[]): string | null {
  if (a.length !== b.length) return `${a.length} vs ${b.length} elements`;
  const sa = [...a].sort();
  const sb = [...b].sort();
  for (let i = 0; i < sa.length; i++) if (sa[i] !== sb[i]) return `element ${sa[i]} vs ${sb[i]}`;
  return null;
}

/** A description of the first difference, or null when equal. */
async function compareValue(
  s: Redis,
  t: Redis,
  key: Buffer,
  type: string,
  ignoreEntriesRead: boolean,
  ignoreEmptyConsumers = false,
): Promise<string | null> {
  switch (type) {
    case 'string': {
      const [a, b] = await Promise.all([s.getBuffer(key), t.getBuffer(key)]);
      if (a === null || b === null || !a.equals(b))
        return `string differs (${a?.length} vs ${b?.length} bytes)`;
      return null;
    }
    case 'list': {
      const [la, lb] = await Promise.all([s.llen(key), t.llen(key)]);
      if (la !== lb) return `list length ${la} vs ${lb}`;
      for (let i = 0; i < la; i += CHUNK) {
        const [a, b] = await Promise.all([
          s.lrangeBuffer(key, i, i + CHUNK - 1),
          t.lrangeBuffer(key, i, i + CHUNK - 1),
        ]);
        for (let j = 0; j < a.length; j++) if (!a[j]!.equals(b[j]!)) return `list item ${i + j} differs`;
      }
      return null;
    }
    case 'set':
      return sameSet(await scanMembers(s, 'sscanBuffer', key), await scanMembers(t, 'sscanBuffer', key));
    case 'hash':
      return sameSet(await scanMembers(s, 'hscanBuffer', key), await scanMembers(t, 'hscanBuffer', key));
    case 'zset':
      return sameSet(await scanMembers(s, 'zscanBuffer', key), await scanMembers(t, 'zscanBuffer', key));
    case 'stream':
      return compareStream(s, t, key, ignoreEntriesRead, ignoreEmptyConsumers);
    default: {
      const [a, b] = await Promise.all([s.dumpBuffer(key), t.dumpBuffer(key)]);
      return a && b && a.equals(b) ? null : `${type} DUMP differs`;
    }
  }
}

/** SSCAN/HSCAN/ZSCAN to "member" / "field=value" / "member=score" strings (hex, so binary is exact). */
async function scanMembers(
  c: Redis,
  cmd: 'sscanBuffer' | 'hscanBuffer' | 'zscanBuffer',
  key: Buffer,
): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, items] = (await c[cmd](key, cursor, 'COUNT', CHUNK)) as [Buffer, Buffer[]];
    cursor = String(next);
    if (cmd === 'sscanBuffer') for (const m of items) out.push(hex(m));
    // zset scores compare as doubles: servers print the same double differently (Redis 5–7.0 `%.17g`
    // gives 0.10000000000000001 where Valkey and 7.2+ give 0.1); String() of the parsed double is exact.
    else
      for (let i = 0; i < items.length; i += 2)
        out.push(
          `${hex(items[i]!)}=${cmd === 'zscanBuffer' ? scoreText(items[i + 1]!) : hex(items[i + 1]!)}`,
        );
  } while (cursor !== '0');
  // HSCAN/ZSCAN/SSCAN may return an element twice across iterations (rehashing): dedupe.
  return [...new Set(out)];
}

function scoreText(b: Buffer): string {
  const t = b.toString('latin1').toLowerCase();
  return t === 'inf' || t === '+inf' ? 'Infinity' : t === '-inf' ? '-Infinity' : String(Number(t));
}

type XInfo = (string | number | null | XInfo)[];

/** XINFO replies as name → value, leaving out what legitimately differs (idle/seen/active times). */
function fields(reply: XInfo, drop: string[], only?: Set<string>): string {
  const o: Record<string, unknown> = {};
  for (let i = 0; i < reply.length; i += 2) {
    const k = String(reply[i]);
    if (!drop.includes(k) && (only === undefined || only.has(k))) o[k] = reply[i + 1];
  }
  // Sorted by name: servers of different versions list the same fields in another order.
  return JSON.stringify(
    Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
  );
}

/** Field names both XINFO replies have (servers of different versions report different sets). */
function common(a: XInfo[], b: XInfo[]): Set<string> {
  const names = (x: XInfo[]) => {
    const out = new Set<string>();
    for (const r of x) for (let i = 0; i < r.length; i += 2) out.add(String(r[i]));
    return out;
  };
  const nb = names(b);
  return new Set([...names(a)].filter((n) => nb.has(n)));
}

async function compareStream(
  s: Redis,
  t: Redis,
  key: Buffer,
  ignoreEntriesRead: boolean,
  ignoreEmptyConsumers = false,
): Promise<string | null> {
  let start = '-';
  for (;;) {
    const [a, b] = await Promise.all([
      s.xrangeBuffer(key, start, '+', 'COUNT', CHUNK),
      t.xrangeBuffer(key, start, '+', 'COUNT', CHUNK),
    ]);
    if (a.length !== b.length) return `stream entries ${a.length} vs ${b.length} from ${start}`;
    for (let i = 0; i < a.length; i++) {
      const [ia, fa] = a[i]!;
      const [ib, fb] = b[i]!;
      if (!ia.equals(ib)) return `stream entry id ${ia} vs ${ib}`;
      if (fa.length !== fb.length || fa.some((f, j) => !f.equals(fb[j]!)))
        return `stream entry ${ia} fields differ`;
    }
    if (a.length < CHUNK) break;
    // The ID after the last one (exclusive `(` ranges only exist since 6.2).
    const [ms, seq] = a[a.length - 1]![0].toString().split('-') as [string, string];
    start = `${ms}-${BigInt(seq) + 1n}`;
  }
  // Entries are compared above; radix-tree sizes depend on how the stream was built, idle times on when.
  const drop = [
    'first-entry',
    'last-entry',
    'radix-tree-keys',
    'radix-tree-nodes',
    'idle',
    'seen-time',
    'active-time',
    'inactive',
  ];
  const [ia, ib] = await Promise.all([s.call('XINFO', 'STREAM', key), t.call('XINFO', 'STREAM', key)]);
  const sf = common([ia as XInfo], [ib as XInfo]);
  if (fields(ia as XInfo, drop, sf) !== fields(ib as XInfo, drop, sf))
    return `XINFO STREAM ${fields(ia as XInfo, drop, sf)} vs ${fields(ib as XInfo, drop, sf)}`;
  const [ga, gb] = (await Promise.all([s.call('XINFO', 'GROUPS', key), t.call('XINFO', 'GROUPS', key)])) as [
    XInfo[],
    XInfo[],
  ];
  const gdrop = [
    ...drop,
    ...(ignoreEntriesRead ? ['entries-read', 'lag'] : []),
    ...(ignoreEmptyConsumers ? ['consumers'] : []),
  ];
  const gf = common(ga, gb);
  const gs = (g: XInfo[], only = gf) =>
    g
      .map((x) => fields(x, gdrop, only))
      .sort()
      .join('\n');
  if (gs(ga) !== gs(gb)) return `XINFO GROUPS ${gs(ga)} vs ${gs(gb)}`;
  for (const g of ga) {
    const name = String(g[1]);
    let [ca, cb] = (await Promise.all([
      s.call('XINFO', 'CONSUMERS', key, name),
      t.call('XINFO', 'CONSUMERS', key, name),
    ])) as [XInfo[], XInfo[]];
    if (ignoreEmptyConsumers) {
      const holding = (c: XInfo) => Number(c[c.indexOf('pending') + 1]) > 0;
      [ca, cb] = [ca.filter(holding), cb.filter(holding)];
    }
    const cf = common(ca, cb);
    if (ca.length !== cb.length || gs(ca, cf) !== gs(cb, cf))
      return `XINFO CONSUMERS ${name}: ${gs(ca, cf)} vs ${gs(cb, cf)}`;
    const [pa, pb] = (await Promise.all([
      s.call('XPENDING', key, name, '-', '+', '1000000'),
      t.call('XPENDING', key, name, '-', '+', '1000000'),
    ])) as [XInfo[], XInfo[]];
    // [id, consumer, idle ms, delivery count]: idle differs by nature; the rest must match.
    const ps = (p: XInfo[]) => JSON.stringify(p.map((e) => [e[0], e[1], e[3]]));
    if (ps(pa) !== ps(pb)) return `XPENDING ${name}: ${ps(pa)} vs ${ps(pb)}`;
  }
  return null;
}
