/**
 * One replicated command → the command(s) that do the same on the target (issue #4 §4).
 *
 * Two jobs:
 * 1. Relative expirations become absolute when received. Sources before 7.0 replicate `EXPIRE k 10`,
 *    `SETEX`, `SET … EX` as sent; applied later on the target they would expire later than on the
 *    source by the replication lag (and by any time spent in the spool). 7.0+ sources already send
 *    `PEXPIREAT` / `SET … PXAT`, which pass unchanged.
 * 2. Commands or options the target's version lacks get an equivalent the target has: `SET … PXAT`
 *    on < 6.2 → `SET` + `PEXPIREAT`; `SET … KEEPTTL` on < 6.0 → a script that keeps the TTL;
 *    `XGROUP CREATECONSUMER` on < 6.2 → `XCLAIM … 0-0 JUSTID` (creates the consumer, claims nothing);
 *    `XSETID`/`XGROUP … ENTRIESREAD` extras on < 7.0 dropped (those counters do not exist there);
 *    `LMOVE`/`BLMOVE` on < 6.2 → `RPOPLPUSH` or a script; `LPOP/RPOP key count` on < 6.2 → count pops;
 *    `COPY` on < 6.2 → a DUMP/RESTORE script. Hash field TTL commands (7.4+: `HEXPIRE`, `HPEXPIRE`,
 *    `HEXPIREAT`, `HPEXPIREAT`, `HPERSIST`; 8.0: `HSETEX`, `HGETEX`) on a target without them follow
 *    `--hash-field-ttl`: `strip` drops the TTL part (`HSETEX` → `HSET`), `error` and `skip-key` stop
 *    (skip-key decides per key in the snapshot; a TTL set later would leave a half-skipped key).
 * 3. Issue #13: what newer sources replicate that older targets refuse. A replicated command already
 *    did its work on the source (its NX/GT condition held), so the target only needs the effect:
 *    `PEXPIREAT … NX|XX|GT|LT` (7.0+'s form of `EXPIRE … NX`) on < 7.0 → plain; `ZADD GT|LT` on < 6.2 →
 *    a per-member script; `XADD`/`XTRIM` `LIMIT` with an exact trim dropped everywhere (6.2+ rewrite
 *    `~` to `=` and keep LIMIT, which a client may not send), `MINID` on < 6.2 → a script, `NOMKSTREAM`
 *    on < 6.2 dropped; `SET … IFEQ` → `SET`; `HGETDEL` → `HDEL`; `ZRANGESTORE`/`ZDIFFSTORE` on < 6.2 →
 *    scripts, `GEOSEARCHSTORE … BYRADIUS` → `GEORADIUS … STORE`; a 7.0+ source's XCLAIM PEL cleanup on
 *    < 7.0 → XACK of the deleted IDs; `RESTORE` of a payload the target cannot load → decoded and
 *    rewritten (restore.ts); `SPUBLISH` on a target without sharded pub/sub dropped (nobody there can
 *    be subscribed to it). Anything else the target's command table lacks, and the forms with no
 *    older equivalent (`COPY … DB`, `GEOSEARCHSTORE … BYBOX|ANY`, 8.2's `BITOP DIFF…`), stop the run
 *    with ERR_TARGET_UNSUPPORTED naming the command and the target version, before it is written —
 *    never dropped.
 *
 * What each source version propagates was read from redis/redis src/t_string.c, expire.c, t_stream.c
 * (`alsoPropagate`/`rewriteClientCommandVector` calls) of 5.0, 6.2 and 7.0, and checked on the
 * replication streams of 5.0.7, 6.2.5, 7.0.15, 7.2.4, 7.4.1 and Valkey 9.1.2 (`redis-cli --replica`).
 */
import { ReplicantError } from '../errors.js';
import type { TargetCaps } from '../sinks/types.js';
import { translateRestore } from './restore.js';

const B = (s: string) => Buffer.from(s);
const up = (b: Buffer | undefined) => (b === undefined ? '' : b.toString('latin1').toUpperCase());
const num = (b: Buffer | undefined) => Number(b?.toString('latin1'));

/** Keeps a key's TTL across a SET (KEEPTTL before 6.0): KEYS[1], ARGV[1] value, ARGV[2..] NX/XX. */
const KEEPTTL_SCRIPT =
  "local t = redis.call('PTTL', KEYS[1]) local r = redis.call('SET', KEYS[1], unpack(ARGV)) " +
  "if r and t > 0 then redis.call('PEXPIRE', KEYS[1], t) end return r";
/** LMOVE src dst wherefrom whereto, any direction. */
const LMOVE_SCRIPT =
  "local v = redis.call(ARGV[1] == 'LEFT' and 'LPOP' or 'RPOP', KEYS[1]) " +
  "if v then redis.call(ARGV[2] == 'LEFT' and 'LPUSH' or 'RPUSH', KEYS[2], v) end return v";
/** COPY src dst [REPLACE]: the value and the TTL. */
const COPY_SCRIPT =
  "local d = redis.call('DUMP', KEYS[1]) if not d then return 0 end " +
  "if ARGV[1] ~= 'REPLACE' and redis.call('EXISTS', KEYS[2]) == 1 then return 0 end " +
  "local t = redis.call('PTTL', KEYS[1]) if t < 0 then t = 0 end " +
  "if ARGV[1] == 'REPLACE' then redis.call('RESTORE', KEYS[2], t, d, 'REPLACE') " +
  "else redis.call('RESTORE', KEYS[2], t, d) end return 1";

export interface TranslateContext {
  target: TargetCaps;
  /**
   * The source's version (major*10000+minor*100+patch) when known. Only the XCLAIM PEL cleanup
   * depends on it (7.0+ sources mean "drop from the PEL", 6.2 ones "claim"); unknown: passed as is.
   */
  sourceVersion?: number;
  now: () => number;
  /** Function libraries are not copied (--skip-functions): FUNCTION commands are dropped. */
  skipFunctions?: boolean;
  /** --hash-field-ttl, for targets without HPEXPIREAT. Default 'error'. */
  hashFieldTtl?: 'error' | 'strip' | 'drop' | 'skip-key';
  /** Target DB of the command being translated (set by the caller; SELECT inside a group moves it). */
  db?: number;
  /**
   * skip-key: was this key skipped in the snapshot? A field TTL command on such a key passes through
   * untranslated — the sink drops every stream write to a skipped key (SkippedKeys).
   */
  skippedKey?: (db: number, key: Buffer) => boolean;
}

/** Commands that only set or clear hash field TTLs (7.4+). */
const FIELD_TTL_COMMANDS = new Set(['HEXPIRE', 'HPEXPIRE', 'HEXPIREAT', 'HPEXPIREAT', 'HPERSIST']);

export function unsupported(name: string, t: TargetCaps, why = ''): ReplicantError {
  return new ReplicantError(
    'ERR_TARGET_UNSUPPORTED',
    `the source replicated ${name}${why}, which the target ${t.family} ${versionText(t.versionNum)} does not have and replicant cannot translate`,
    {
      hint: 'migrate into a target version that has it (see README, Supported versions), or stop writing it on the source',
    },
  );
}

export function versionText(v: number): string {
  return `${Math.floor(v / 10000)}.${Math.floor(v / 100) % 100}.${v % 100}`;
}

/**
 * The command(s) to send for one replicated command (empty: nothing to send). Throws
 * ERR_TARGET_UNSUPPORTED when the target cannot do what the command did.
 */
export function translateCommand(argv: Buffer[], c: TranslateContext): Buffer[][] {
  const name = up(argv[0]);
  const v = c.target.versionNum;
  switch (name) {
    case 'EXPIRE':
    case 'PEXPIRE': {
      // Relative (pre-7.0 sources): absolute now. An NX|XX|GT|LT option was decided on the source
      // (the command is replicated only when it set the expiry), so the plain form does the same.
      const ms = name === 'EXPIRE' ? num(argv[2]) * 1000 : num(argv[2]);
      return [[B('PEXPIREAT'), argv[1]!, B(String(c.now() + ms))]];
    }
    case 'EXPIREAT':
      return [[B('PEXPIREAT'), argv[1]!, B(String(num(argv[2]) * 1000))]];
    case 'PEXPIREAT':
      // 7.0+ sources replicate `EXPIRE k 100 NX` as `PEXPIREAT k t NX` (read from their stream);
      // before 7.0 the option is "wrong number of arguments". Already decided on the source: drop it.
      return argv.length > 3 && v < 70000 ? [argv.slice(0, 3)] : [argv];
    case 'ZADD':
      return translateZadd(argv, c);
    case 'XADD':
    case 'XTRIM':
      return translateXtrim(name, argv, c);
    case 'HGETDEL':
      // Valkey 9 replicates HGETDEL as is; the fields it removed are the ones it names.
      if (c.target.hasCommand('hgetdel')) return [argv];
      return [[B('HDEL'), argv[1]!, ...fieldsOf(argv, 2, name, c)]];
    case 'RESTORE':
      return translateRestore(argv, c);
    case 'SETEX':
    case 'PSETEX': {
      const ms = name === 'SETEX' ? num(argv[2]) * 1000 : num(argv[2]);
      return setWithExpiry([argv[1]!, argv[3]!], c.now() + ms, v);
    }
    case 'SET':
      return translateSet(argv, c);
    case 'XGROUP':
      return translateXgroup(argv, c);
    case 'XSETID':
      // ENTRIESADDED / MAXDELETEDID exist since 7.0; older targets keep only the last ID.
      return v >= 70000 ? [argv] : [argv.slice(0, 3)];
    case 'LMOVE':
    case 'BLMOVE': {
      if (v >= 60200) return [name === 'BLMOVE' ? [B('LMOVE'), ...argv.slice(1, 5)] : argv];
      const [from, to] = [up(argv[3]), up(argv[4])];
      if (from === 'RIGHT' && to === 'LEFT') return [[B('RPOPLPUSH'), argv[1]!, argv[2]!]];
      return [[B('EVAL'), B(LMOVE_SCRIPT), B('2'), argv[1]!, argv[2]!, B(from), B(to)]];
    }
    case 'LPOP':
    case 'RPOP':
      if (argv.length < 3 || v >= 60200) return [argv];
      return Array.from({ length: Math.max(0, num(argv[2])) }, () => [argv[0]!, argv[1]!]);
    case 'COPY': {
      if (v >= 60200) return [argv];
      const rest = argv.slice(3).map(up);
      if (rest.includes('DB')) throw unsupported('COPY … DB', c.target);
      return [
        [B('EVAL'), B(COPY_SCRIPT), B('2'), argv[1]!, argv[2]!, B(rest.includes('REPLACE') ? 'REPLACE' : '')],
      ];
    }
    case 'HEXPIRE':
    case 'HPEXPIRE':
    case 'HEXPIREAT':
    case 'HPEXPIREAT':
    case 'HPERSIST':
    case 'HSETEX':
      if (c.target.hasCommand(name.toLowerCase())) return [argv];
      // Redis 7.4 has field TTLs but not HSETEX (Valkey 9 / Redis 8.0 replicate it).
      if (name === 'HSETEX' && hasFieldTtls(c.target)) return translateHsetex(argv, c);
      return translateFieldTtl(name, argv, c);
    case 'HGETEX':
      // Redis 8.0 / Valkey 9 (Valkey replicates it as HPEXPIREAT/HPERSIST; this is for a source that
      // sends it as is): only the fields' TTLs change, so it is HPEXPIREAT or HPERSIST where those exist.
      if (c.target.hasCommand('hgetex')) return [argv];
      if (!hasFieldTtls(c.target)) return translateFieldTtl(name, argv, c);
      return translateHgetex(argv, c);
    case 'ZRANGESTORE':
    case 'ZDIFFSTORE':
    case 'GEOSEARCHSTORE':
      if (c.target.hasCommand(name.toLowerCase())) return [argv];
      return translateStore(name, argv, c);
    case 'BITOP': {
      // Redis 8.2 added DIFF, DIFF1, ANDOR and ONE; older servers answer "syntax error".
      const op = up(argv[1]);
      if (v < 80200 && op !== 'AND' && op !== 'OR' && op !== 'XOR' && op !== 'NOT')
        throw unsupported(`BITOP ${op}`, c.target, ' (Redis 8.2+)');
      return [argv];
    }
    case 'XCLAIM':
      return translateXclaim(argv, c);
    case 'SPUBLISH':
      // 7.0+ sharded pub/sub, replicated by the source. A target without it has no SSUBSCRIBE, so no
      // client there can receive it: dropped (PUBLISH would reach SUBSCRIBE clients, which it never does).
      return c.target.hasCommand('spublish') ? [argv] : [];
    case 'FUNCTION':
      if (c.skipFunctions) return [];
      if (v < 70000 || !c.target.hasCommand('function'))
        throw new ReplicantError(
          'ERR_TARGET_NO_FUNCTIONS',
          `the source replicated FUNCTION ${up(argv[1])}; the target ${c.target.family} ${versionText(v)} has no functions`,
          { hint: 'pass --skip-functions to leave function libraries out, or migrate into Redis 7.0+' },
        );
      return [argv];
    default:
      if (name !== '' && !c.target.hasCommand(name.toLowerCase())) {
        // Module commands are named MODULE.COMMAND (JSON.SET, BF.ADD, TS.ADD, FT.CREATE…).
        if (name.includes('.'))
          throw new ReplicantError(
            'ERR_TARGET_UNSUPPORTED',
            `the source replicated ${name}, a module command; the target ${c.target.family} ${versionText(v)} does not have that module`,
            {
              hint: `load the module that provides ${name} on the target (MODULE LOAD, or --loadmodule) and restart; its keys in the snapshot were skipped and counted as module:<type>`,
            },
          );
        throw unsupported(name, c.target);
      }
      return [argv];
  }
}

/** A hash field TTL command on a target without field TTLs, per --hash-field-ttl. */
function translateFieldTtl(name: string, argv: Buffer[], c: TranslateContext): Buffer[][] {
  const mode = c.hashFieldTtl ?? 'error';
  if (mode === 'skip-key' && argv.length > 1 && c.skippedKey?.(c.db ?? 0, argv[1]!)) return [argv];
  if (mode === 'strip') {
    if (FIELD_TTL_COMMANDS.has(name) || name === 'HGETEX') return [];
    // HSETEX key [FNX|FXX] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL] FIELDS n f v …: replicated only when it
    // set the fields, so the fields alone are what it did (less their TTL).
    const at = argv.findIndex((b, i) => i >= 2 && up(b) === 'FIELDS');
    if (at < 0) throw unsupported(name, c.target, ' without FIELDS');
    return [[B('HSET'), argv[1]!, ...argv.slice(at + 2)]];
  }
  throw new ReplicantError(
    'ERR_TARGET_UNSUPPORTED',
    `the source replicated ${name} (hash field TTLs); the target ${c.target.family} ${versionText(c.target.versionNum)} has no field TTLs${
      mode === 'skip-key'
        ? ' on a key the snapshot did not skip (--hash-field-ttl skip-key decides per key in the snapshot only)'
        : ''
    }`,
    {
      hint: 'restart with --hash-field-ttl strip to keep the fields without their TTLs, or migrate into Redis 7.4+',
    },
  );
}

/** SET key value with an absolute expiry, in the form the target takes. */
function setWithExpiry(kv: Buffer[], atMs: number, v: number, flags: Buffer[] = []): Buffer[][] {
  if (v >= 60200) return [[B('SET'), ...kv, ...flags, B('PXAT'), B(String(atMs))]];
  return [
    [B('SET'), ...kv, ...flags],
    [B('PEXPIREAT'), kv[0]!, B(String(atMs))],
  ];
}

/** Valkey 8.1 / Redis 8.4 compare-and-set conditions of SET: each takes one value argument. */
const SET_CONDITIONS = new Set(['IFEQ', 'IFNE', 'IFDEQ', 'IFDNE']);

function translateSet(argv: Buffer[], c: TranslateContext): Buffer[][] {
  // `SET k v IFEQ old` is replicated as is (Valkey 9), and only when the condition held: the plain
  // SET does the same on any target.
  for (let i = 3; i < argv.length; i++) {
    if (SET_CONDITIONS.has(up(argv[i]))) return translateSet([...argv.slice(0, i), ...argv.slice(i + 2)], c);
  }
  const v = c.target.versionNum;
  const kv = [argv[1]!, argv[2]!];
  const flags: Buffer[] = [];
  let at: number | null = null;
  let relative = false;
  let keepTtl = false;
  let get = false;
  for (let i = 3; i < argv.length; i++) {
    const o = up(argv[i]);
    if (o === 'EX' || o === 'PX' || o === 'EXAT' || o === 'PXAT') {
      const n = num(argv[++i]);
      relative = o === 'EX' || o === 'PX';
      at = o === 'EX' ? c.now() + n * 1000 : o === 'PX' ? c.now() + n : o === 'EXAT' ? n * 1000 : n;
    } else if (o === 'KEEPTTL') keepTtl = true;
    else if (o === 'NX' || o === 'XX') flags.push(argv[i]!);
    else if (o === 'GET') get = true; // only shapes the reply: left out where the target lacks it
  }
  // The common cases go through as they came (7.0+ sources send PXAT; plain SETs need nothing).
  if (get && v < 60200 && at === null && !keepTtl) return [[B('SET'), ...kv, ...flags]];
  if ((at === null && !keepTtl) || (at !== null && !relative && v >= 60200) || (keepTtl && v >= 60000))
    return [argv];
  if (at !== null) return setWithExpiry(kv, at, v, flags);
  if (keepTtl) {
    if (v >= 60000) return [[B('SET'), ...kv, ...flags, B('KEEPTTL')]];
    return [[B('EVAL'), B(KEEPTTL_SCRIPT), B('1'), kv[0]!, kv[1]!, ...flags]];
  }
  return [[B('SET'), ...kv, ...flags]];
}

function translateXgroup(argv: Buffer[], c: TranslateContext): Buffer[][] {
  const v = c.target.versionNum;
  const sub = up(argv[1]);
  if (sub === 'CREATECONSUMER' && v < 60200) {
    // XCLAIM of an ID nobody holds creates the consumer (before 7.0) and changes nothing else.
    return [[B('XCLAIM'), argv[2]!, argv[3]!, argv[4]!, B('0'), B('0-0'), B('JUSTID')]];
  }
  if ((sub === 'CREATE' || sub === 'SETID') && v < 70000) {
    // ENTRIESREAD (7.0+) is a lag hint; older servers have no such counter.
    const out: Buffer[] = [];
    for (let i = 0; i < argv.length; i++) {
      if (up(argv[i]) === 'ENTRIESREAD') {
        i++;
        continue;
      }
      out.push(argv[i]!);
    }
    return [out];
  }
  return [argv];
}

/**
 * ZADD key GT|LT [XX] [CH] [INCR] score member … (6.2+), replicated as sent. Before 6.2 a script
 * makes the same per-member decision against the target's scores (equal to the source's at that
 * point of the stream): GT/LT only gate updates of existing members, XX stops additions. CH only
 * shapes the reply.
 */
const ZADD_GTLT_SCRIPT =
  'local k = KEYS[1] local gt = ARGV[1] == "GT" local xx = ARGV[2] == "XX" local incr = ARGV[3] == "INCR" ' +
  'for i = 4, #ARGV, 2 do local s, m = ARGV[i], ARGV[i + 1] local cur = redis.call("ZSCORE", k, m) ' +
  'if cur then local c = tonumber(cur) local n = tonumber(s) if incr then n = c + n end ' +
  'if (gt and n > c) or (not gt and n < c) then ' +
  'if incr then redis.call("ZINCRBY", k, s, m) else redis.call("ZADD", k, s, m) end end ' +
  'elseif not xx then redis.call("ZADD", k, s, m) end end return 0';

const ZADD_FLAGS = new Set(['NX', 'XX', 'GT', 'LT', 'CH', 'INCR']);

function translateZadd(argv: Buffer[], c: TranslateContext): Buffer[][] {
  if (c.target.versionNum >= 60200) return [argv];
  let i = 2;
  const flags = new Set<string>();
  while (i < argv.length && ZADD_FLAGS.has(up(argv[i]))) flags.add(up(argv[i++]));
  if (!flags.has('GT') && !flags.has('LT')) return [argv];
  return [
    [
      B('EVAL'),
      B(ZADD_GTLT_SCRIPT),
      B('1'),
      argv[1]!,
      B(flags.has('GT') ? 'GT' : 'LT'),
      B(flags.has('XX') ? 'XX' : ''),
      B(flags.has('INCR') ? 'INCR' : ''),
      ...argv.slice(i),
    ],
  ];
}

/**
 * XTRIM key MINID id before 6.2: delete the entries below `id` (XDEL, a bounded XRANGE at a time).
 * ARGV[1] is a full ID `ms-seq`, so the inclusive XRANGE end returns it too, and it is kept.
 */
const XTRIM_MINID_SCRIPT =
  'local k, id, n = KEYS[1], ARGV[1], 0 while true do ' +
  'local r = redis.call("XRANGE", k, "-", id, "COUNT", 256) local d = {} ' +
  'for _, e in ipairs(r) do if e[1] ~= id then d[#d + 1] = e[1] end end ' +
  'if #d == 0 then return n end n = n + redis.call("XDEL", k, unpack(d)) end';

/**
 * XADD/XTRIM trim options, as 6.2+ sources replicate them (read from their streams):
 * - `MAXLEN ~ n LIMIT l` arrives rewritten as `MAXLEN = m LIMIT l` (the exact length the source kept),
 *   which a normal client — the target sees us as one — refuses on every version ("LIMIT cannot be
 *   used without the special ~ option"): LIMIT goes whenever the trim is exact, and before 6.2.
 * - `MINID` (6.2+) before 6.2: the entry is added without it, then XTRIM_MINID_SCRIPT.
 * - `NOMKSTREAM` (6.2+): replicated only when the stream existed, so dropped before 6.2.
 */
function translateXtrim(name: string, argv: Buffer[], c: TranslateContext): Buffer[][] {
  const v = c.target.versionNum;
  const xadd = name === 'XADD';
  let nomk = false;
  let strategy = '';
  let op: Buffer | null = null;
  let threshold: Buffer | null = null;
  let limit: Buffer | null = null;
  let i = 2;
  for (; i < argv.length; i++) {
    const o = up(argv[i]);
    if (xadd && o === 'NOMKSTREAM') nomk = true;
    else if ((o === 'MAXLEN' || o === 'MINID') && i + 1 < argv.length) {
      strategy = o;
      const n = up(argv[i + 1]);
      if ((n === '=' || n === '~') && i + 2 < argv.length) op = argv[++i]!;
      threshold = argv[++i]!;
    } else if (o === 'LIMIT' && i + 1 < argv.length) limit = argv[++i]!;
    else break; // XADD: the ID, then the fields
  }
  const approx = op !== null && up(op) === '~';
  const dropLimit = limit !== null && (!approx || v < 60200);
  const minidScript = strategy === 'MINID' && v < 60200;
  if (!dropLimit && !minidScript && !(nomk && v < 60200)) return [argv];
  const head: Buffer[] = [argv[0]!, argv[1]!];
  if (nomk && v >= 60200) head.push(B('NOMKSTREAM'));
  if (strategy !== '' && !minidScript) {
    head.push(B(strategy));
    if (op !== null) head.push(op);
    head.push(threshold!);
    if (limit !== null && !dropLimit) head.push(B('LIMIT'), limit);
  }
  const out: Buffer[][] = [];
  if (xadd) out.push([...head, ...argv.slice(i)]);
  else if (!minidScript) out.push(head);
  if (minidScript) {
    const t = threshold!.toString('latin1');
    const id = t.includes('-') ? t : `${t}-0`; // MINID 5 means 5-0
    out.push([B('EVAL'), B(XTRIM_MINID_SCRIPT), B('1'), argv[1]!, B(id)]);
  }
  return out;
}

/** The fields of `… FIELDS n f1 … fn` from `from` on (HGETDEL, HGETEX). */
function fieldsOf(argv: Buffer[], from: number, name: string, c: TranslateContext): Buffer[] {
  const at = argv.findIndex((b, i) => i >= from && up(b) === 'FIELDS');
  if (at < 0) throw unsupported(name, c.target, ' without FIELDS');
  return argv.slice(at + 2, at + 2 + num(argv[at + 1]));
}

/** HGETEX key [EX s | PX ms | EXAT t | PXAT t | PERSIST] FIELDS n f…, on a target with HPEXPIREAT. */
function translateHgetex(argv: Buffer[], c: TranslateContext): Buffer[][] {
  const o = up(argv[2]);
  const fields = fieldsOf(argv, 2, 'HGETEX', c);
  const tail = [B('FIELDS'), B(String(fields.length)), ...fields];
  if (o === 'PERSIST') return [[B('HPERSIST'), argv[1]!, ...tail]];
  const n = num(argv[3]);
  const at =
    o === 'EX'
      ? c.now() + n * 1000
      : o === 'PX'
        ? c.now() + n
        : o === 'EXAT'
          ? n * 1000
          : o === 'PXAT'
            ? n
            : null;
  if (at === null) return []; // no TTL option: a read
  return [[B('HPEXPIREAT'), argv[1]!, B(String(at)), ...tail]];
}

/**
 * ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT off n] (6.2+) before 6.2: the same range
 * by the pre-6.2 ZRANGE family, stored (dst replaced; an empty result deletes it, as 6.2 does).
 */
const ZRANGESTORE_SCRIPT =
  'local dst, src, by, rev, a, b = KEYS[1], KEYS[2], ARGV[1], ARGV[2] == "REV", ARGV[3], ARGV[4] ' +
  'local lim = ARGV[5] ~= "" local r ' +
  'if by == "BYSCORE" then local cmd = rev and "ZREVRANGEBYSCORE" or "ZRANGEBYSCORE" ' +
  'if lim then r = redis.call(cmd, src, a, b, "WITHSCORES", "LIMIT", ARGV[5], ARGV[6]) ' +
  'else r = redis.call(cmd, src, a, b, "WITHSCORES") end ' +
  'elseif by == "BYLEX" then local cmd = rev and "ZREVRANGEBYLEX" or "ZRANGEBYLEX" local m ' +
  'if lim then m = redis.call(cmd, src, a, b, "LIMIT", ARGV[5], ARGV[6]) else m = redis.call(cmd, src, a, b) end ' +
  'r = {} for _, x in ipairs(m) do r[#r + 1] = x r[#r + 1] = redis.call("ZSCORE", src, x) end ' +
  'else r = redis.call(rev and "ZREVRANGE" or "ZRANGE", src, a, b, "WITHSCORES") end ' +
  'redis.call("DEL", dst) local args = {} ' +
  'for i = 1, #r, 2 do args[#args + 1] = r[i + 1] args[#args + 1] = r[i] ' +
  'if #args >= 256 then redis.call("ZADD", dst, unpack(args)) args = {} end end ' +
  'if #args > 0 then redis.call("ZADD", dst, unpack(args)) end return #r / 2';

/**
 * ZDIFFSTORE dst numkeys k1 k2… (6.2+) before 6.2: k1's members (a set's with score 1) that none of
 * the other keys holds, stored.
 */
const ZDIFFSTORE_SCRIPT =
  'local function t(k) return redis.call("TYPE", k)["ok"] end ' +
  'local function has(k, kt, m) if kt == "zset" then return redis.call("ZSCORE", k, m) ~= false ' +
  'elseif kt == "set" then return redis.call("SISMEMBER", k, m) == 1 end return false end ' +
  'local ft = t(KEYS[2]) local r = {} ' +
  'if ft == "zset" then r = redis.call("ZRANGE", KEYS[2], 0, -1, "WITHSCORES") ' +
  'elseif ft == "set" then for _, m in ipairs(redis.call("SMEMBERS", KEYS[2])) do r[#r + 1] = m r[#r + 1] = "1" end end ' +
  'local others = {} for j = 3, #KEYS do others[#others + 1] = {KEYS[j], t(KEYS[j])} end ' +
  'local keep = {} for i = 1, #r, 2 do local out = false ' +
  'for _, o in ipairs(others) do if has(o[1], o[2], r[i]) then out = true break end end ' +
  'if not out then keep[#keep + 1] = r[i + 1] keep[#keep + 1] = r[i] end end ' +
  'redis.call("DEL", KEYS[1]) for i = 1, #keep, 256 do ' +
  'redis.call("ZADD", KEYS[1], unpack(keep, i, math.min(#keep, i + 255))) end return #keep / 2';

/** The *STORE commands of 6.2 on an older target: a script, or the pre-6.2 command that does it. */
function translateStore(name: string, argv: Buffer[], c: TranslateContext): Buffer[][] {
  if (name === 'ZDIFFSTORE') {
    const n = num(argv[2]);
    return [[B('EVAL'), B(ZDIFFSTORE_SCRIPT), B(String(n + 1)), argv[1]!, ...argv.slice(3, 3 + n)]];
  }
  if (name === 'ZRANGESTORE') {
    let by = 'RANK';
    let rev = '';
    let off: Buffer = B('');
    let cnt: Buffer = B('');
    for (let i = 5; i < argv.length; i++) {
      const o = up(argv[i]);
      if (o === 'BYSCORE' || o === 'BYLEX') by = o;
      else if (o === 'REV') rev = 'REV';
      else if (o === 'LIMIT') {
        off = argv[++i]!;
        cnt = argv[++i]!;
      }
    }
    return [
      [
        B('EVAL'),
        B(ZRANGESTORE_SCRIPT),
        B('2'),
        argv[1]!,
        argv[2]!,
        B(by),
        B(rev),
        argv[3]!,
        argv[4]!,
        off,
        cnt,
      ],
    ];
  }
  // GEOSEARCHSTORE dst src FROMMEMBER m | FROMLONLAT lon lat, BYRADIUS r unit | BYBOX w h unit,
  // [ASC|DESC] [COUNT n [ANY]] [STOREDIST] → GEORADIUS[BYMEMBER] … STORE|STOREDIST dst (3.2+).
  let from: Buffer[] | null = null;
  let radius: Buffer[] | null = null;
  const rest: Buffer[] = [];
  let store = 'STORE';
  for (let i = 3; i < argv.length; i++) {
    const o = up(argv[i]);
    if (o === 'FROMMEMBER') from = [argv[++i]!];
    else if (o === 'FROMLONLAT') from = [argv[++i]!, argv[++i]!];
    else if (o === 'BYRADIUS') radius = [argv[++i]!, argv[++i]!];
    else if (o === 'BYBOX')
      throw unsupported('GEOSEARCHSTORE … BYBOX', c.target, ' (6.2+, no older equivalent)');
    else if (o === 'ANY')
      throw unsupported('GEOSEARCHSTORE … COUNT … ANY', c.target, ' (6.2+, no older equivalent)');
    else if (o === 'ASC' || o === 'DESC') rest.push(argv[i]!);
    else if (o === 'COUNT') rest.push(argv[i]!, argv[++i]!);
    else if (o === 'STOREDIST') store = 'STOREDIST';
  }
  if (from === null || radius === null)
    throw unsupported(name, c.target, ' in a form replicant does not know');
  const cmd = from.length === 1 ? 'GEORADIUSBYMEMBER' : 'GEORADIUS';
  return [[B(cmd), argv[2]!, ...from, ...radius, ...rest, B(store), argv[1]!]];
}

/**
 * XCLAIM before 7.0, from a 7.0+ source: 7.0+ sources replicate the PEL cleanup of a deleted entry (XAUTOCLAIM, XCLAIM)
 * as `XCLAIM … <deleted id> … FORCE JUSTID`, which a 7.0 replica reads as "drop it from the PEL";
 * older servers leave it pending. A script does what 7.0 does: XACK for IDs whose entry is gone.
 */
const XCLAIM_SCRIPT =
  'local gone = {} for i = 5, 4 + tonumber(ARGV[4]) do local id = ARGV[i] ' +
  'if #redis.call("XRANGE", KEYS[1], id, id) == 0 then gone[#gone + 1] = id end end ' +
  'if #gone > 0 then redis.call("XACK", KEYS[1], ARGV[1], unpack(gone)) end ' +
  'return redis.call("XCLAIM", KEYS[1], ARGV[1], ARGV[2], ARGV[3], unpack(ARGV, 5))';

function translateXclaim(argv: Buffer[], c: TranslateContext): Buffer[][] {
  // A 6.2 source's XAUTOCLAIM of a deleted entry claims it (it stays pending): same as before 7.0.
  if (c.target.versionNum >= 70000 || (c.sourceVersion ?? 0) < 70000 || argv.length < 6) return [argv];
  // XCLAIM key group consumer min-idle id… [options]: the IDs run until the first option word.
  // ARGV = group consumer min-idle <number of IDs> id… options.
  let n = 0;
  while (5 + n < argv.length && /^\d+(-\d+)?$/.test(argv[5 + n]!.toString('latin1'))) n++;
  return [
    [
      B('EVAL'),
      B(XCLAIM_SCRIPT),
      B('1'),
      argv[1]!,
      argv[2]!,
      argv[3]!,
      argv[4]!,
      B(String(n)),
      ...argv.slice(5),
    ],
  ];
}

/** HPEXPIREAT and HPERSIST (Redis 7.4+, Valkey 9+), version-gated like the snapshot's sink. */
function hasFieldTtls(t: TargetCaps): boolean {
  return t.hasCommand('hpexpireat') && t.versionNum >= (t.family === 'valkey' ? 90000 : 70400);
}

/** HSETEX … KEEPTTL: each field set, its TTL (if any) put back (HSET clears a field's TTL). */
const HSETEX_KEEPTTL_SCRIPT =
  'local k = KEYS[1] for i = 1, #ARGV, 2 do ' +
  'local t = redis.call("HPEXPIRETIME", k, "FIELDS", 1, ARGV[i])[1] ' +
  'redis.call("HSET", k, ARGV[i], ARGV[i + 1]) ' +
  'if t and t > 0 then redis.call("HPEXPIREAT", k, t, "FIELDS", 1, ARGV[i]) end end return 1';

/**
 * HSETEX key [NX|XX] [FNX|FXX] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL] FIELDS n f v … on a target with
 * field TTLs but without HSETEX: HSET (which clears the fields' TTLs, as HSETEX without a TTL does),
 * then HPEXPIREAT; KEEPTTL by a script. The conditions held on the source: dropped.
 */
function translateHsetex(argv: Buffer[], c: TranslateContext): Buffer[][] {
  let at: number | null = null;
  let keep = false;
  let i = 2;
  for (; i < argv.length; i++) {
    const o = up(argv[i]);
    if (o === 'FIELDS') break;
    if (o === 'KEEPTTL') keep = true;
    else if (o === 'EX' || o === 'PX' || o === 'EXAT' || o === 'PXAT') {
      const n = num(argv[++i]);
      at = o === 'EX' ? c.now() + n * 1000 : o === 'PX' ? c.now() + n : o === 'EXAT' ? n * 1000 : n;
    }
  }
  if (i >= argv.length) throw unsupported('HSETEX', c.target, ' without FIELDS');
  const n = num(argv[i + 1]);
  const pairs = argv.slice(i + 2, i + 2 + 2 * n);
  if (keep) return [[B('EVAL'), B(HSETEX_KEEPTTL_SCRIPT), B('1'), argv[1]!, ...pairs]];
  const out: Buffer[][] = [[B('HSET'), argv[1]!, ...pairs]];
  if (at !== null)
    out.push([
      B('HPEXPIREAT'),
      argv[1]!,
      B(String(at)),
      B('FIELDS'),
      B(String(n)),
      ...pairs.filter((_, j) => j % 2 === 0),
    ]);
  return out;
}
