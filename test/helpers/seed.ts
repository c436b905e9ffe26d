/**
 * Test data for every engineer: `seedAllTypes` writes a representative dataset (every type, compact
 * and big encodings under the server's config, binary keys/values, ±inf and fractional scores,
 * streams with groups, PEL and an empty consumer, TTLs, several DBs, optionally a function library);
 * `runWriteLoad` drives a mixed write load for replication tests.
 * Everything is written through ioredis so the data does not depend on replicant's own code.
 */
import type { ChainableCommander, Redis } from 'ioredis';

export interface SeedOptions {
  /** DBs to fill; default [0, 1, 5, 15]. */
  dbs?: number[];
  /** Elements in "big" collections; default 300 (> the default 128-entry listpack limits). */
  bigSize?: number;
  /** Also load a FUNCTION library (global, not per DB). Default false. */
  functions?: boolean;
  /** Key name prefix; default ''. */
  prefix?: string;
  /** Give some keys a TTL (1–2 h ahead, absolute); default true. */
  ttl?: boolean;
  /** The server's version (major*10000+minor*100+patch): leaves out what older servers lack. Default 7.0. */
  serverVersion?: number;
}

export interface SeedResult {
  keys: number;
  byDb: Record<number, number>;
}

export const SEED_FUNCTION_LIBRARY =
  "#!lua name=replicant_seed\nredis.register_function('replicant_echo', function(keys, args) return args[1] end)";

/** Deterministic bytes (no Math.random: failures must reproduce). */
export function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed * 2654435761 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

const BIN_KEY = Buffer.from([0x00, 0x01, 0xff, 0x0d, 0x0a, 0x20, 0x80]);

/** Write the dataset into each DB (existing keys with the same names are replaced). */
export async function seedAllTypes(client: Redis, opts: SeedOptions = {}): Promise<SeedResult> {
  const dbs = opts.dbs ?? [0, 1, 5, 15];
  const big = opts.bigSize ?? 300;
  const p = opts.prefix ?? '';
  const result: SeedResult = { keys: 0, byDb: {} };
  const conn = client.duplicate();
  try {
    for (const db of dbs) {
      await conn.select(db);
      const k = (name: string) => `${p}${name}`;
      const m = conn.multi();
      const before = await conn.dbsize();
      // Strings: plain, int-encoded, negative int, float text, empty, binary, big compressible (LZF), big random.
      m.set(k('str:plain'), `hello from db ${db}`);
      m.set(k('str:int'), '12345');
      m.set(k('str:negint'), '-9007199254740993');
      m.set(k('str:float'), '3.14159');
      m.set(k('str:empty'), '');
      m.set(k('str:bin'), bytes(300, db + 1));
      m.set(Buffer.concat([Buffer.from(p), BIN_KEY, Buffer.from([db])]), bytes(40, db + 2));
      m.set(k('str:big-compressible'), 'abcdefgh'.repeat(16 * 1024));
      m.set(k('str:big-random'), bytes(70_000, db + 3));
      m.pfadd(k('str:hll'), 'a', 'b', 'c', String(db));
      m.setbit(k('str:bits'), 1000 + db, 1);
      // Lists: small (listpack), big (several quicklist nodes), one element bigger than a node (plain node).
      m.rpush(k('list:small'), 'a', 'b', '1', '-2', bytes(10, 7));
      m.rpush(k('list:big'), ...Array.from({ length: big * 4 }, (_, i) => `item-${i}-${'x'.repeat(i % 50)}`));
      m.rpush(k('list:plain'), 'head', bytes(20_000, db + 4), 'tail');
      m.rpush(k('list:ints'), ...Array.from({ length: big }, (_, i) => String(i * 1_000_003 - 5)));
      // Sets: 16/32/64-bit intsets, intset overflow → hashtable, strings (hashtable in 7.0, listpack in 7.2+).
      m.sadd(k('set:int16'), ...Array.from({ length: 20 }, (_, i) => String(i - 10)));
      m.sadd(k('set:int32'), '70000', '-70000', '1');
      m.sadd(k('set:int64'), '5000000000', '-5000000000', '2');
      m.sadd(k('set:int-big'), ...Array.from({ length: 600 }, (_, i) => String(i * 3)));
      m.sadd(k('set:str'), 'apple', 'banana', bytes(12, 9));
      m.sadd(k('set:big'), ...Array.from({ length: big }, (_, i) => `member-${i}`));
      // Sorted sets: ±inf, fractional and tiny scores, binary member; big → skiplist.
      m.zadd(
        k('zset:small'),
        '1',
        'one',
        '1.5',
        'one-and-half',
        '-0.25',
        'neg',
        '+inf',
        'top',
        '-inf',
        'bottom',
        '1e-300',
        'tiny',
        '3.141592653589793',
        'pi',
      );
      m.zadd(k('zset:small'), '0.1', bytes(8, 11));
      m.zadd(k('zset:big'), ...Array.from({ length: big }, (_, i) => [String(i / 7), `m${i}`]).flat());
      m.geoadd(k('zset:geo'), 13.361389, 38.115556, 'Palermo', 15.087269, 37.502669, 'Catania');
      // Hashes: small (listpack), many fields, one long value (> hash-max-listpack-value) → hashtable.
      m.hset(k('hash:small'), 'f1', 'v1', 'f2', '2', bytes(5, 12), bytes(9, 13));
      m.hset(k('hash:big'), ...Array.from({ length: big }, (_, i) => [`field-${i}`, `value-${i}`]).flat());
      m.hset(k('hash:longval'), 'short', 'x', 'long', 'y'.repeat(100));
      if (opts.ttl !== false) {
        const at = Date.now() + 3_600_000;
        m.pexpireat(k('str:plain'), at + db);
        m.pexpireat(k('list:big'), at + 1000);
        m.pexpireat(k('hash:small'), at + 2000);
        m.set(k('str:ttl'), 'expiring', 'PX', 7_200_000);
        m.pexpireat(k('zset:big'), at + 3000);
      }
      await m.exec();
      await seedStreams(conn, k, big, opts.serverVersion ?? 70000);
      const after = await conn.dbsize();
      result.byDb[db] = after;
      result.keys += after - before;
    }
    if (opts.functions) await conn.call('FUNCTION', 'LOAD', 'REPLACE', SEED_FUNCTION_LIBRARY);
  } finally {
    conn.disconnect();
  }
  return result;
}

/** Streams: entries (some deleted), two groups, a PEL with a re-delivered entry, an empty consumer, an empty stream. */
async function seedStreams(c: Redis, k: (n: string) => string, big: number, version: number): Promise<void> {
  const s = k('stream:main');
  const m = c.multi();
  for (let i = 1; i <= Math.max(20, big / 3); i++) {
    m.xadd(s, `${1_000_000 + i}-${i % 3}`, 'n', String(i), 'payload', i % 5 === 0 ? bytes(30, i) : `p${i}`);
  }
  m.xdel(s, '1000002-2', '1000005-2');
  m.call('XGROUP', 'CREATE', s, 'g1', '0');
  m.call('XGROUP', 'CREATE', s, 'g2', '$');
  if (version >= 60200) m.call('XGROUP', 'CREATECONSUMER', s, 'g1', 'idle-consumer');
  await m.exec();
  await c.call('XREADGROUP', 'GROUP', 'g1', 'c1', 'COUNT', '6', 'STREAMS', s, '>');
  await c.call('XREADGROUP', 'GROUP', 'g1', 'c2', 'COUNT', '3', 'STREAMS', s, '>');
  await c.call('XACK', s, 'g1', '1000001-1');
  // Delivery count > 1 and a change of owner.
  await c.call('XCLAIM', s, 'g1', 'c2', '0', '1000003-0');
  const e = k('stream:empty');
  await c.call('XADD', e, '5-1', 'a', '1');
  await c.call('XDEL', e, '5-1');
  await c.call('XGROUP', 'CREATE', k('stream:mk'), 'grp', '$', 'MKSTREAM');
}

export interface WriteLoadOptions {
  /** Stop after this many commands (default 1000); `signal` can stop it earlier. */
  ops?: number;
  signal?: AbortSignal;
  /** DBs to spread writes over (SELECT between batches); default [0]. */
  dbs?: number[];
  /** Distinct keys per type; default 50. */
  keyspace?: number;
  /** PRNG seed; default 1. */
  seed?: number;
  /** Commands per pipelined batch; default 50. Every 5th batch goes as MULTI/EXEC. */
  batch?: number;
  prefix?: string;
  /** The source's version: commands it lacks (LMOVE, XAUTOCLAIM < 6.2) are not sent. Default 7.0. */
  serverVersion?: number;
  /**
   * Cluster-friendly keys: `<prefix>{<n>}:<type>`, so the multi-key commands of one op share a slot,
   * and every MULTI batch uses one `n` (a transaction a cluster can run). Default false.
   */
  clusterSafe?: boolean;
  /** With clusterSafe: only tags `n` for which this is true are used (e.g. the slots one master owns). */
  acceptTag?: (n: number) => boolean;
}

export interface WriteLoadResult {
  ops: number;
  /** Commands sent, by name (MULTI/EXEC batches count their inner commands). */
  byCommand: Record<string, number>;
  /** Replies that were errors (e.g. LSET on a missing list): expected, they are not replicated. */
  errors: number;
}

const LOAD_SCRIPT = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[2])";

type Op = (m: ChainableCommander, r: () => number, key: (t: string) => string) => unknown;

/** Commands of the load that older servers lack: name → first version that has it. */
const SINCE: Record<string, number> = { LMOVE: 60200, XAUTOCLAIM: 60200 };

/** Each op uses keys of one type family only, so no WRONGTYPE error hides a bug. */
const OPS: [string, Op][] = [
  ['APPEND', (m, r, k) => m.append(k('str'), `a${r() % 10}`)],
  ['INCR', (m, _r, k) => m.incr(k('num'))],
  ['INCRBY', (m, r, k) => m.incrby(k('num'), (r() % 100) - 50)],
  ['INCRBYFLOAT', (m, _r, k) => m.incrbyfloat(k('num-f'), '0.5')],
  ['DECR', (m, _r, k) => m.decr(k('num'))],
  ['SETRANGE', (m, r, k) => m.setrange(k('str'), r() % 20, 'zz')],
  ['SETBIT', (m, r, k) => m.setbit(k('bits'), r() % 2000, 1)],
  ['SET', (m, r, k) => m.set(k('str'), bytes(1 + (r() % 40), r()), 'PX', 3_600_000)],
  ['MSET', (m, r, k) => m.mset(k('str'), `m${r()}`, k('str'), `n${r()}`)],
  ['LPUSH', (m, r, k) => m.lpush(k('list'), `l${r() % 100}`, `x${r() % 7}`)],
  ['RPUSH', (m, r, k) => m.rpush(k('list'), `r${r() % 100}`)],
  ['LTRIM', (m, _r, k) => m.ltrim(k('list'), 0, 40)],
  ['LSET', (m, r, k) => m.lset(k('list'), 0, `set${r() % 9}`)],
  ['LREM', (m, r, k) => m.lrem(k('list'), 1, `x${r() % 7}`)],
  ['LINSERT', (m, r, k) => m.linsert(k('list'), 'BEFORE', `x${r() % 7}`, 'ins')],
  ['LMOVE', (m, _r, k) => m.lmove(k('list'), k('list'), 'LEFT', 'RIGHT')],
  ['SADD', (m, r, k) => m.sadd(k('set'), `s${r() % 60}`, String(r() % 1000))],
  ['SREM', (m, r, k) => m.srem(k('set'), `s${r() % 60}`)],
  ['SMOVE', (m, r, k) => m.smove(k('set'), k('set'), `s${r() % 60}`)],
  ['SPOP', (m, _r, k) => m.spop(k('set'))],
  ['SUNIONSTORE', (m, _r, k) => m.sunionstore(k('set'), k('set'), k('set'))],
  ['SINTERSTORE', (m, _r, k) => m.sinterstore(k('set'), k('set'), k('set'))],
  ['SDIFFSTORE', (m, _r, k) => m.sdiffstore(k('set'), k('set'), k('set-none'))],
  ['ZADD', (m, r, k) => m.zadd(k('zset'), String((r() % 1000) / 8), `z${r() % 80}`)],
  ['ZADD', (m, r, k) => m.zadd(k('zset'), r() % 2 ? '+inf' : '-inf', `inf${r() % 3}`)],
  ['ZINCRBY', (m, r, k) => m.zincrby(k('zset'), '0.25', `z${r() % 80}`)],
  ['ZREM', (m, r, k) => m.zrem(k('zset'), `z${r() % 80}`)],
  ['ZREMRANGEBYSCORE', (m, _r, k) => m.zremrangebyscore(k('zset'), '100', '110')],
  ['ZREMRANGEBYRANK', (m, _r, k) => m.zremrangebyrank(k('zset'), 0, 0)],
  ['ZUNIONSTORE', (m, _r, k) => m.zunionstore(k('zset'), 2, k('zset'), k('zset'))],
  ['ZINTERSTORE', (m, _r, k) => m.zinterstore(k('zset'), 1, k('zset'))],
  ['ZPOPMIN', (m, _r, k) => m.zpopmin(k('zset'))],
  ['HSET', (m, r, k) => m.hset(k('hash'), `f${r() % 90}`, bytes(1 + (r() % 20), r()))],
  ['HDEL', (m, r, k) => m.hdel(k('hash'), `f${r() % 90}`)],
  ['HINCRBY', (m, r, k) => m.hincrby(k('hash'), `n${r() % 5}`, 3)],
  ['HINCRBYFLOAT', (m, r, k) => m.hincrbyfloat(k('hash'), `fl${r() % 5}`, '1.25')],
  ['XADD', (m, r, k) => m.xadd(k('stream'), '*', 'f', `v${r() % 100}`)],
  ['XTRIM', (m, _r, k) => m.call('XTRIM', k('stream'), 'MAXLEN', '50')],
  ['XGROUP', (m, _r, k) => m.call('XGROUP', 'CREATE', k('stream'), 'lg', '0', 'MKSTREAM')],
  [
    'XREADGROUP',
    (m, r, k) =>
      m.call('XREADGROUP', 'GROUP', 'lg', `c${r() % 3}`, 'COUNT', '2', 'STREAMS', k('stream'), '>'),
  ],
  [
    'XAUTOCLAIM',
    (m, r, k) => m.call('XAUTOCLAIM', k('stream'), 'lg', `c${r() % 3}`, '0', '0-0', 'COUNT', '1'),
  ],
  ['XCLAIM', (m, r, k) => m.call('XCLAIM', k('stream'), 'lg', `c${r() % 3}`, '0', '0-1')],
  ['XDEL', (m, _r, k) => m.call('XDEL', k('stream'), '0-1')],
  ['EXPIRE', (m, r, k) => m.expire(k('str'), 3600 + (r() % 100))],
  ['PEXPIREAT', (m, r, k) => m.pexpireat(k('hash'), Date.now() + 7_200_000 + (r() % 1000))],
  ['PERSIST', (m, _r, k) => m.persist(k('str'))],
  ['RENAME', (m, _r, k) => m.rename(k('num'), k('num'))],
  ['DEL', (m, _r, k) => m.del(k('str'))],
  ['UNLINK', (m, _r, k) => m.unlink(k('bits'))],
  ['PFADD', (m, r, k) => m.pfadd(k('hll'), `e${r() % 1000}`)],
  ['PFMERGE', (m, _r, k) => m.pfmerge(k('hll'), k('hll'), k('hll'))],
  ['GEOADD', (m, r, k) => m.geoadd(k('geo'), (r() % 360) - 180, (r() % 170) - 85, `p${r() % 20}`)],
  ['EVAL', (m, r, k) => m.eval(LOAD_SCRIPT, 2, k('str'), k('num'), `e${r() % 10}`)],
];

/** Drive a mixed write load (the command list of the replication tests) until `ops` or `signal`. */
export async function runWriteLoad(client: Redis, opts: WriteLoadOptions = {}): Promise<WriteLoadResult> {
  const total = opts.ops ?? 1000;
  const dbs = opts.dbs ?? [0];
  const space = opts.keyspace ?? 50;
  const batch = opts.batch ?? 50;
  const p = opts.prefix ?? 'load:';
  let x = (opts.seed ?? 1) >>> 0 || 1;
  const r = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % 0x7fffffff;
  };
  const res: WriteLoadResult = { ops: 0, byCommand: {}, errors: 0 };
  const version = opts.serverVersion ?? 70000;
  const ops = OPS.filter(([name]) => (SINCE[name] ?? 0) <= version);
  const conn = client.duplicate();
  try {
    for (let b = 0; res.ops < total && !opts.signal?.aborted; b++) {
      const db = dbs[b % dbs.length]!;
      const useMulti = b % 5 === 4;
      const m = useMulti ? conn.multi() : conn.pipeline();
      // SELECT inside the batch: exercises SELECT in the stream (and inside MULTI for every 5th batch).
      m.select(db);
      const n = Math.min(batch, total - res.ops);
      const accept = opts.acceptTag ?? (() => true);
      const pick = (): number => {
        let t = r() % space;
        for (let k = 0; k < space && !accept(t); k++) t = (t + 1) % space;
        return t;
      };
      const batchSlot = opts.clusterSafe ? pick() : 0;
      for (let i = 0; i < n; i++) {
        const slot = opts.clusterSafe && useMulti ? batchSlot : opts.clusterSafe ? pick() : r() % space;
        const key = opts.clusterSafe
          ? (t: string) => `${p}{${slot}}:${t}`
          : (t: string) => `${p}${t}:${slot}`;
        const [name, op] = ops[r() % ops.length]!;
        op(m, r, key);
        res.byCommand[name] = (res.byCommand[name] ?? 0) + 1;
      }
      const replies = (await m.exec()) ?? [];
      for (const [err] of replies) if (err) res.errors++;
      res.ops += n;
    }
  } finally {
    conn.disconnect();
  }
  return res;
}
