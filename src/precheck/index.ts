/**
 * The precheck: everything that can be known about a migration before a byte is written, as a list
 * of findings (error / warn / info), each with what to do about it. `replicant precheck` prints them
 * all; `sync` and `restore` run the same checks first (unless --skip-precheck) and stop on errors.
 *
 * The checks, in order: both sides reachable with the given credentials; versions, and per source
 * type/encoding seen in a bounded sample, the path each takes (RESTORE, rewrite, or not possible);
 * function libraries and hash-field TTLs against what the target has; the source user's right to
 * PSYNC; target memory ≥ 1.1 × the source's used_memory (DTS's rule); maxmemory-policy noeviction;
 * occupied target DBs in report mode; cluster limits; backlog and replica output-buffer sizes against
 * the expected transfer time. A failed check never hides the others: each is independent, and one
 * that cannot run (a denied CONFIG GET, say) says so as a warning.
 */
import { open } from 'node:fs/promises';
import type { Config } from '../config/index.js';
import { ReplicantError, ServerReplyError } from '../errors.js';
import { DbFilter } from '../filters/index.js';
import { type ConnectOptions, probeServer, RedisConnection, type ServerInfo } from '../net/index.js';
import { parseRedisUrl } from '../net/url.js';
import type { RespValue } from '../resp/index.js';
import { pipeline } from '../verify/pipe.js';
import { describeMissing, missingDbs, plannedTargets, targetDatabases } from './dbs.js';

export type Level = 'error' | 'warn' | 'info';

export interface Finding {
  level: Level;
  /** Stable identifier, e.g. TARGET_EVICTION. */
  code: string;
  message: string;
  /** What to do (absent on plain information). */
  fix?: string;
}

export interface PrecheckReport {
  mode: 'sync' | 'restore';
  source: string | null;
  target: string | null;
  findings: Finding[];
  errors: number;
  warnings: number;
}

/** Keys sampled per source DB for the type/encoding census. */
const SAMPLE_PER_DB = 10_000;
/** Conservative transfer rates for the time estimates: snapshot fork+write, network copy. */
const SNAPSHOT_BYTES_PER_S = 100 * 1024 * 1024;

const txt = (v: RespValue | undefined): string =>
  Buffer.isBuffer(v) ? v.toString('utf8') : v === undefined || v === null ? '' : String(v);

function endpoint(url: string, user: string | null, password: string | null): ConnectOptions {
  const o = parseRedisUrl(url);
  const out: ConnectOptions = { host: o.host, port: o.port, name: 'replicant-precheck' };
  const u = user ?? o.username;
  const p = password ?? o.password;
  if (u !== undefined) out.username = u;
  if (p !== undefined) out.password = p;
  return out;
}

export function formatBytesShort(n: number): string {
  const u = ['b', 'kb', 'mb', 'gb', 'tb'];
  let i = 0;
  let x = n;
  while (x >= 1024 && i < u.length - 1) {
    x /= 1024;
    i++;
  }
  return `${i === 0 ? Math.round(x) : Math.ceil(x * 10) / 10}${u[i]}`;
}

/** A size as a Redis config value (whole megabytes, rounded up: Redis does not parse `1.5mb`). */
export function configSize(n: number): string {
  return `${Math.max(1, Math.ceil(n / (1024 * 1024)))}mb`;
}

class Checker {
  readonly findings: Finding[] = [];
  constructor(
    private readonly c: Config,
    readonly mode: 'sync' | 'restore',
  ) {}

  add(level: Level, code: string, message: string, fix?: string): void {
    this.findings.push(fix === undefined ? { level, code, message } : { level, code, message, fix });
  }

  async connect(role: 'source' | 'target'): Promise<{ conn: RedisConnection; info: ServerInfo } | null> {
    const c = this.c;
    const url = role === 'source' ? c.source! : c.target!;
    const opts =
      role === 'source'
        ? endpoint(url, c.sourceUser, c.sourcePassword)
        : endpoint(url, c.targetUser, c.targetPassword);
    let conn: RedisConnection;
    try {
      conn = await RedisConnection.connect(opts, role);
    } catch (err) {
      const e = err as ReplicantError;
      this.add(
        'error',
        `${role.toUpperCase()}_CONNECT`,
        e.message,
        e.hint ?? `check --${role} and its credentials`,
      );
      return null;
    }
    try {
      return { conn, info: await probeServer(conn) };
    } catch (err) {
      conn.destroy();
      this.add(
        'error',
        `${role.toUpperCase()}_PROBE`,
        `could not read the ${role}'s INFO: ${(err as Error).message}`,
      );
      return null;
    }
  }

  /** Type/encoding census of the source (bounded sample per DB) and the path each takes. */
  async census(src: RedisConnection, s: ServerInfo, t: ServerInfo, dbs: number[]): Promise<void> {
    const byType = new Map<string, { n: number; encodings: Set<string> }>();
    for (const db of dbs) {
      await src.call(['SELECT', db]);
      let cursor = '0';
      let seen = 0;
      do {
        const r = (await src.call(['SCAN', cursor, 'COUNT', 1000])) as [Buffer, Buffer[]];
        cursor = txt(r[0]);
        const keys = r[1];
        if (keys.length === 0) continue;
        const replies = await pipeline(
          src,
          keys.flatMap((k) => [
            ['TYPE', k],
            ['OBJECT', 'ENCODING', k],
          ]),
        );
        for (let i = 0; i < keys.length; i++) {
          const type = txt(replies[2 * i]);
          if (type === 'none') continue;
          const enc = replies[2 * i + 1] instanceof ServerReplyError ? '?' : txt(replies[2 * i + 1]);
          const e = byType.get(type) ?? { n: 0, encodings: new Set() };
          e.n++;
          e.encodings.add(enc);
          byType.set(type, e);
        }
        seen += keys.length;
      } while (cursor !== '0' && seen < SAMPLE_PER_DB);
    }
    await src.call(['SELECT', 0]);
    const restoreOk = s.family === t.family && s.maxRdbVersion <= t.maxRdbVersion;
    const why = restoreOk
      ? 'RESTORE'
      : `rewritten with commands (the target's RESTORE takes RDB ≤ ${t.maxRdbVersion}${
          s.family !== t.family
            ? `, and ${s.family} payloads are not ${t.family}'s`
            : `, the source writes RDB ${s.maxRdbVersion}`
        })`;
    const core = new Set(['string', 'list', 'set', 'zset', 'hash', 'stream']);
    for (const [type, e] of [...byType].sort()) {
      const encs = [...e.encodings].sort().join(', ');
      if (core.has(type)) {
        if (type === 'stream' && t.versionNum > 0 && t.versionNum < 50000) {
          this.add(
            'error',
            'TYPE_IMPOSSIBLE',
            `source has streams (${e.n} sampled); the target ${t.version} has no stream type`,
            'migrate into Redis 5.0 or newer',
          );
          continue;
        }
        this.add(
          'info',
          'TYPE_PATH',
          `${type} (${encs}): ${e.n} keys sampled → ${type === 'string' ? this.stringPath(t, restoreOk, why) : why}`,
        );
        continue;
      }
      // A module type: TYPE names it (e.g. ReJSON-RL).
      const has = t.modules.length > 0;
      this.add(
        'warn',
        'MODULE_TYPE',
        `source has keys of module type ${type} (${e.n} sampled); ${
          has
            ? `the target's modules are ${t.modules.map((m) => m.name).join(', ')}`
            : 'the target has no modules loaded'
        }: keys whose module the target lacks are skipped and counted`,
        `load the module on the target (MODULE LOAD) before migrating, or accept skipping them`,
      );
    }
  }

  /**
   * The path of string keys, as the sink decides it (src/sinks/standalone.ts keyStart): one SET (or a
   * key of an MSET batch) where the target has SET, except keys carrying LRU/LFU metadata (and, before
   * 6.2, a TTL: SET has no PXAT there), which take RESTORE when it is possible.
   */
  stringPath(t: ServerInfo, restoreOk: boolean, why: string): string {
    if (this.c.noRestore) return 'rewritten with commands (SET, --no-restore)';
    if (t.versionNum < 20612 || !t.hasCommand('set')) return why;
    const batch =
      this.c.onConflict !== 'skip' && t.hasCommand('mset') ? ' (MSET batches for keys without a TTL)' : '';
    if (!restoreOk) return `SET${batch}, as every value is rewritten`;
    const except =
      t.versionNum >= 60200 ? 'keys with LRU/LFU metadata' : 'keys with a TTL or LRU/LFU metadata';
    return `SET${batch}; ${except} by RESTORE`;
  }

  async functions(src: RedisConnection, s: ServerInfo, t: ServerInfo): Promise<void> {
    if (s.versionNum < 70000 || this.c.skipFunctions) return;
    let libs = 0;
    try {
      const r = await src.call(['FUNCTION', 'LIST']);
      libs = Array.isArray(r) ? r.length : 0;
    } catch {
      this.add(
        'warn',
        'FUNCTIONS_UNKNOWN',
        'could not list the source function libraries (FUNCTION LIST refused)',
      );
      return;
    }
    if (libs === 0) return;
    if (!t.hasCommand('function')) {
      this.add(
        'error',
        'FUNCTIONS_UNSUPPORTED',
        `source has ${libs} function ${libs === 1 ? 'library' : 'libraries'}; the target ${t.family} ${t.version} has no FUNCTION command`,
        'pass --skip-functions to leave them out (load them by hand on a 7.0+ target), or migrate into Redis 7.0+',
      );
    } else
      this.add(
        'info',
        'FUNCTIONS',
        `${libs} function ${libs === 1 ? 'library' : 'libraries'} will be copied`,
      );
  }

  async hashFieldTtl(src: RedisConnection, t: ServerInfo): Promise<void> {
    // 7.4+ reports keys with field TTLs per DB as subexpiry=N in INFO keyspace.
    const ks = txt(await src.call(['INFO', 'keyspace']).catch(() => ''));
    let n = 0;
    for (const m of ks.matchAll(/subexpiry=(\d+)/g)) n += Number(m[1]);
    if (n === 0 || t.hasCommand('hpexpireat')) return;
    const mode = this.c.hashFieldTtl;
    this.add(
      mode === 'error' ? 'error' : 'warn',
      'HASH_FIELD_TTL',
      `${n} source hashes have fields with their own TTL; the target ${t.version} has no HPEXPIREAT${
        mode === 'strip'
          ? ': their fields are written without TTL (--hash-field-ttl strip)'
          : mode === 'skip-key'
            ? ': those keys are skipped (--hash-field-ttl skip-key)'
            : ''
      }`,
      mode === 'error'
        ? 'choose --hash-field-ttl strip (keep the fields, lose their TTLs) or skip-key (skip those hashes), or migrate into Redis 7.4+'
        : undefined,
    );
  }

  async psync(src: RedisConnection): Promise<void> {
    const c = this.c;
    const user = c.sourceUser ?? parseRedisUrl(c.source!).username ?? 'default';
    const grant = `ACL SETUSER ${user} +psync +replconf +ping`;
    const denied = (what: string) =>
      this.add(
        'error',
        'SOURCE_NO_PSYNC',
        `the source user '${user}' may not ${what}: a live sync needs REPLCONF and PSYNC (or at least SYNC)`,
        `grant them on the source: ${grant} (or +sync +replconf +ping: SYNC, a full copy on every reconnect)`,
      );
    try {
      await src.call(['REPLCONF', 'capa', 'eof']);
    } catch (err) {
      if (err instanceof ServerReplyError && err.prefix === 'NOPERM') return denied('run REPLCONF');
    }
    const dryrun = async (argv: string[]): Promise<string | null> => {
      try {
        return txt(await src.call(['ACL', 'DRYRUN', user, ...argv]));
      } catch (err) {
        const m = (err as Error).message;
        if (/unknown (sub)?command|unknown subcommand|wrong number/i.test(m)) return null; // before 7.0: no DRYRUN
        if (err instanceof ServerReplyError && err.prefix === 'NOPERM')
          this.add('warn', 'PSYNC_UNCHECKED', `could not check the source user's right to PSYNC (${m})`);
        return null;
      }
    };
    const psync = await dryrun(['PSYNC', '?', '-1']);
    if (psync === null || psync === 'OK') return;
    const sync = await dryrun(['SYNC']);
    if (sync === 'OK')
      this.add(
        'warn',
        'SOURCE_NO_PSYNC',
        `the source user '${user}' may not run PSYNC (${psync}) but may run SYNC: the live sync falls back to SYNC — no resume from an offset, every reconnect is a new full copy`,
        `for resumable syncs: ${grant}`,
      );
    else denied(`run PSYNC (${psync}) or SYNC (${sync ?? 'unchecked'})`);
  }

  memory(s: ServerInfo | null, t: ServerInfo, totalSystem: number, sourceBytes: number): void {
    const need = Math.ceil(sourceBytes * 1.1);
    const limit = t.maxmemory > 0 ? t.maxmemory : totalSystem;
    const what = s
      ? `the source's used_memory ${formatBytesShort(sourceBytes)}`
      : `the RDB file (${formatBytesShort(sourceBytes)})`;
    if (limit === 0) {
      this.add(
        'info',
        'TARGET_MEMORY',
        `target has no maxmemory and reports no system memory; ${what} is not checked against it`,
      );
      return;
    }
    if (limit < need) {
      this.add(
        'error',
        'TARGET_MEMORY',
        `target ${t.maxmemory > 0 ? `maxmemory ${formatBytesShort(limit)}` : `system memory ${formatBytesShort(limit)}`} is below 1.1 × ${what} (${formatBytesShort(need)})`,
        `give the target more memory: CONFIG SET maxmemory ${configSize(need)} (or a bigger instance)${s ? ', or migrate fewer DBs/keys' : ''}`,
      );
    } else
      this.add(
        'info',
        'TARGET_MEMORY',
        `target ${t.maxmemory > 0 ? 'maxmemory' : 'system memory'} ${formatBytesShort(limit)} ≥ 1.1 × ${what}`,
      );
  }

  eviction(t: ServerInfo): void {
    if (t.maxmemoryPolicy === 'noeviction' || t.maxmemoryPolicy === 'unknown') return;
    this.add(
      this.c.allowEviction ? 'warn' : 'error',
      'TARGET_EVICTION',
      `target maxmemory-policy is ${t.maxmemoryPolicy}: when full it evicts keys, so migrated keys can silently disappear`,
      this.c.allowEviction
        ? undefined
        : 'CONFIG SET maxmemory-policy noeviction on the target (or pass --allow-eviction to accept it)',
    );
  }

  conflicts(t: ServerInfo): void {
    const c = this.c;
    const filter = new DbFilter({ dbs: c.dbs, dbMap: c.dbMap });
    const reachable = new Set(filter.targets(Array.from({ length: 256 }, (_, i) => i)).map(([, d]) => d));
    const busy = [...t.dbKeys].filter(([db, n]) => n > 0 && reachable.has(db)).sort((a, b) => a[0] - b[0]);
    if (busy.length === 0) return;
    const where = busy.map(([db, n]) => `db ${db} (${n} keys)`).join(', ');
    if (c.flushTarget) {
      this.add('warn', 'TARGET_FLUSH', `--flush-target will empty ${where} on the target before writing`);
      return;
    }
    if (c.onConflict === 'report')
      this.add(
        'error',
        'TARGET_NOT_EMPTY',
        `target already holds keys in ${where}, which this migration writes to`,
        'pass --on-conflict overwrite (replace them), --on-conflict skip (keep them) or --flush-target (empty those DBs first), or --db-map to other DBs',
      );
    else
      this.add(
        'info',
        'TARGET_NOT_EMPTY',
        `target holds keys in ${where}; --on-conflict ${c.onConflict} ${c.onConflict === 'overwrite' ? 'replaces' : 'keeps'} the ones the source also has`,
      );
  }

  /** Every target DB this run writes to exists on the target (its `databases`). */
  async targetDbs(conn: RedisConnection, t: ServerInfo, sourceDbs: number[]): Promise<void> {
    if (t.clusterEnabled) return; // CLUSTER_DBS says it for a cluster's single DB
    const c = this.c;
    const count = await targetDatabases(conn, false).catch(() => null);
    if (count === null) {
      this.add(
        'warn',
        'TARGET_DBS',
        "could not learn the target's DB count (CONFIG GET databases and SELECT refused)",
        'grant the target user +config|get (or +select); a missing DB still stops the run at its first SELECT, before writing into it',
      );
      return;
    }
    const filter = new DbFilter({ dbs: c.dbs, dbMap: c.dbMap });
    const missing = missingDbs(plannedTargets(c, filter, sourceDbs), count);
    if (missing.length === 0) {
      this.add(
        'info',
        'TARGET_DBS',
        `the target has ${count} DBs; every target DB of this run is among them`,
      );
      return;
    }
    const d = describeMissing(missing, count);
    this.add('error', 'TARGET_DBS', d.message, d.fix);
  }

  cluster(s: ServerInfo | null, t: ServerInfo, sourceDbs: number[]): void {
    if (s?.clusterEnabled)
      this.add(
        'info',
        'SOURCE_CLUSTER',
        `the source is a cluster node: one replica link per shard${this.c.preferReplica ? ' (from a replica of each shard)' : ''}${this.c.stateDir ? (t.clusterEnabled ? '' : '; --state-dir: one checkpoint per shard (key replicant:checkpoint:<slot ranges> on the target), each shard continues or copies again on its own') : ''}`,
      );
    if (!t.clusterEnabled) return;
    this.add(
      this.c.crossSlot === 'split' ? 'warn' : 'info',
      'TARGET_CLUSTER',
      `the target is a cluster node: writes are routed by slot; MULTI groups and multi-key commands whose keys span slots ${this.c.crossSlot === 'split' ? 'are applied command by command, not atomically (--cross-slot split)' : 'stop the run (ERR_CROSS_SLOT) unless --cross-slot split'}`,
    );
    const filter = new DbFilter({ dbs: this.c.dbs, dbMap: this.c.dbMap });
    const mapped = sourceDbs.filter((db) => filter.map(db) !== null && filter.map(db) !== 0);
    if (mapped.length > 0)
      this.add(
        'error',
        'CLUSTER_DBS',
        `source DBs ${mapped.join(', ')} hold keys, but a cluster has only DB 0`,
        `map them explicitly: --db-map ${mapped.map((d) => `${d}:0`).join(',')}${sourceDbs.some((d) => filter.map(d) === 0) ? ' --allow-db-merge' : ''} (keys with the same name then collide), or --dbs 0`,
      );
  }

  async replication(src: RedisConnection, s: ServerInfo): Promise<void> {
    let backlog = 0;
    let hardLimit = 0;
    let softLimit = 0;
    let softSeconds = 0;
    try {
      const [b, o, stats] = await pipeline(src, [
        ['CONFIG', 'GET', 'repl-backlog-size'],
        ['CONFIG', 'GET', 'client-output-buffer-limit'],
        ['INFO', 'stats'],
      ]);
      if (b instanceof ServerReplyError || o instanceof ServerReplyError) throw b instanceof Error ? b : o;
      backlog = Number(txt((b as RespValue[])[1]));
      const limits = txt((o as RespValue[])[1]);
      const m = /(?:slave|replica) (\d+) (\d+) (\d+)/.exec(limits);
      if (m) [hardLimit, softLimit, softSeconds] = [Number(m[1]), Number(m[2]), Number(m[3])];
      const inKbps = Number(/instantaneous_input_kbps:([\d.]+)/.exec(txt(stats))?.[1] ?? 0);
      const writeRate = inKbps * 1024;
      const snapshotS = Math.max(1, s.usedMemory / SNAPSHOT_BYTES_PER_S);
      const buffered = writeRate * snapshotS;
      this.add(
        'info',
        'SOURCE_REPLICATION',
        `source writes ~${formatBytesShort(writeRate)}/s; snapshot estimated at ${Math.ceil(snapshotS)} s; repl-backlog-size ${formatBytesShort(backlog)}; replica output buffer limit ${hardLimit ? formatBytesShort(hardLimit) : 'none'}`,
      );
      if (hardLimit > 0 && buffered > hardLimit * 0.5)
        this.add(
          'warn',
          'SOURCE_OUTPUT_BUFFER',
          `writes during the snapshot (~${formatBytesShort(buffered)}) approach the source's replica output-buffer hard limit ${formatBytesShort(hardLimit)}: the source may drop the link and restart the full sync`,
          `CONFIG SET client-output-buffer-limit "replica ${configSize(buffered * 4)} ${configSize(buffered * 2)} ${Math.max(60, softSeconds)}" on the source`,
        );
      void softLimit;
      if (backlog > 0 && buffered > backlog)
        this.add(
          'warn',
          'SOURCE_BACKLOG',
          `repl-backlog-size ${formatBytesShort(backlog)} holds less than the writes of one snapshot (~${formatBytesShort(buffered)}): after a disconnect, resume would need a new full copy`,
          `CONFIG SET repl-backlog-size ${configSize(buffered * 2)} on the source`,
        );
    } catch (err) {
      this.add(
        'warn',
        'SOURCE_CONFIG_UNREAD',
        `could not read the source's repl-backlog-size / client-output-buffer-limit (${(err as Error).message})`,
        'check them by hand against the expected sync time',
      );
    }
  }
}

async function totalSystemMemory(conn: RedisConnection): Promise<number> {
  const m = /total_system_memory:(\d+)/.exec(txt(await conn.call(['INFO', 'memory']).catch(() => '')));
  return m ? Number(m[1]) : 0;
}

/** RDB header → version, or a finding. */
async function rdbVersion(
  file: string,
  ck: Checker,
): Promise<{ version: number; family: 'redis' | 'valkey'; size: number } | null> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    ck.add(
      'error',
      'RDB_UNREADABLE',
      `cannot open ${file}: ${(err as Error).message}`,
      'check the --rdb path and its permissions',
    );
    return null;
  }
  try {
    const head = Buffer.alloc(9);
    const { bytesRead } = await fh.read(head, 0, 9, 0);
    const size = (await fh.stat()).size;
    const m = /^(REDIS|VALKEY)(\d{3,4})$/.exec(head.subarray(0, bytesRead).toString('latin1'));
    if (!m) {
      ck.add(
        'error',
        'RDB_NOT_RDB',
        `${file} does not start with an RDB header (REDIS0nnn / VALKEYnnn)`,
        'pass an RDB file (dump.rdb), not an AOF or another file',
      );
      return null;
    }
    return { version: Number(m[2]), family: m[1] === 'VALKEY' ? 'valkey' : 'redis', size };
  } finally {
    await fh.close();
  }
}

/** Run every check for `mode`; never throws for a finding (only for a bug). */
export async function runPrecheck(c: Config, mode: 'sync' | 'restore'): Promise<PrecheckReport> {
  const ck = new Checker(c, mode);
  const report: PrecheckReport = {
    mode,
    source: null,
    target: null,
    findings: ck.findings,
    errors: 0,
    warnings: 0,
  };
  const src = mode === 'sync' ? await ck.connect('source') : null;
  const dst = await ck.connect('target');
  try {
    if (src) report.source = `${src.info.family} ${src.info.version}`;
    if (dst) report.target = `${dst.info.family} ${dst.info.version}`;
    if (mode === 'restore' && c.rdb) {
      const r = await rdbVersion(c.rdb, ck);
      if (r && dst) {
        const t = dst.info;
        report.source = `RDB ${r.family === 'valkey' ? 'VALKEY' : 'REDIS'} version ${r.version}`;
        const restore = (r.family === 'valkey') === (t.family === 'valkey') && r.version <= t.maxRdbVersion;
        ck.add(
          'info',
          'TYPE_PATH',
          `RDB version ${r.version} → ${restore ? 'RESTORE' : `rewritten with commands (the target's RESTORE takes RDB ≤ ${t.maxRdbVersion})`}; strings → ${ck.stringPath(t, restore, 'rewritten')}`,
        );
        ck.memory(null, t, await totalSystemMemory(dst.conn), r.size);
      }
    }
    if (src && dst) {
      const s = src.info;
      const t = dst.info;
      ck.add('info', 'VERSIONS', `source ${s.family} ${s.version} → target ${t.family} ${t.version}`);
      const sourceDbs = [...s.dbKeys.keys()]
        .filter((db) => c.dbs === null || c.dbs.includes(db))
        .sort((a, b) => a - b);
      ck.cluster(s, t, sourceDbs);
      if (!s.clusterEnabled) {
        await ck.census(src.conn, s, t, sourceDbs);
        await ck.functions(src.conn, s, t);
        await ck.hashFieldTtl(src.conn, t);
        await ck.psync(src.conn);
        await ck.replication(src.conn, s);
      }
      ck.memory(s, t, await totalSystemMemory(dst.conn), s.usedMemory);
    }
    if (dst) {
      const withKeys = src
        ? [...src.info.dbKeys.keys()].filter((db) => c.dbs === null || c.dbs.includes(db))
        : [];
      await ck.targetDbs(dst.conn, dst.info, withKeys);
      if (mode === 'restore') ck.cluster(null, dst.info, []);
      ck.eviction(dst.info);
      ck.conflicts(dst.info);
    }
  } finally {
    await Promise.all([
      src?.conn.close().catch(() => src.conn.destroy()),
      dst?.conn.close().catch(() => dst.conn.destroy()),
    ]);
  }
  report.errors = ck.findings.filter((f) => f.level === 'error').length;
  report.warnings = ck.findings.filter((f) => f.level === 'warn').length;
  return report;
}

const ORDER: Record<Level, number> = { error: 0, warn: 1, info: 2 };

/** Findings as lines: level, code, message, then the fix indented. Errors first. */
export function formatFindings(r: PrecheckReport): string {
  const out: string[] = [];
  out.push(`precheck (${r.mode}): ${r.source ?? 'source ?'} → ${r.target ?? 'target ?'}`);
  for (const f of [...r.findings].sort((a, b) => ORDER[a.level] - ORDER[b.level])) {
    out.push(`  ${f.level.padEnd(5)}  ${f.code}: ${f.message}`);
    if (f.fix) out.push(`         fix: ${f.fix}`);
  }
  out.push(
    r.errors > 0
      ? `result: ${r.errors} error${r.errors === 1 ? '' : 's'}, ${r.warnings} warning${r.warnings === 1 ? '' : 's'}: fix the errors before migrating`
      : `result: ok${r.warnings > 0 ? ` with ${r.warnings} warning${r.warnings === 1 ? '' : 's'}` : ''}`,
  );
  return `${out.join('\n')}\n`;
}

/**
 * Before sync/restore writes anything: run the checks, log warnings, and stop with one error naming
 * every failed check and its fix. Checks the run enforces itself with a more precise error (an
 * unreachable side, occupied target DBs, a user without PSYNC) are left to the run.
 */
export async function precheckBeforeWrite(
  c: Config,
  mode: 'sync' | 'restore',
  log: { warn(obj: object, msg: string): void },
): Promise<void> {
  const r = await runPrecheck(c, mode);
  const leftToRun = new Set([
    'SOURCE_CONNECT',
    'TARGET_CONNECT',
    'SOURCE_PROBE',
    'TARGET_PROBE',
    'TARGET_NOT_EMPTY',
    'SOURCE_NO_PSYNC',
    'RDB_UNREADABLE',
    'RDB_NOT_RDB',
    'SOURCE_CLUSTER',
    'TARGET_CLUSTER',
  ]);
  for (const f of r.findings)
    if (f.level === 'warn') log.warn({ code: f.code, fix: f.fix }, `precheck: ${f.message}`);
  const errors = r.findings.filter((f) => f.level === 'error' && !leftToRun.has(f.code));
  if (errors.length === 0) return;
  throw new ReplicantError('ERR_PRECHECK', `precheck failed: ${errors.map((f) => f.message).join('; ')}`, {
    hint: `${errors
      .map((f) => f.fix)
      .filter(Boolean)
      .join('; ')} (run \`replicant precheck\` for every finding; --skip-precheck skips it)`,
  });
}
