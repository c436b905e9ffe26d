/**
 * The target side of a run: connect (src/net), learn what the server accepts, answer the conflict
 * check's questions (which DBs hold keys, a few of their names), build the StandaloneSink, and copy
 * the sink's counters into the run's stats. Everything the CLI needs from src/net and src/sinks goes
 * through here, so restore.ts and sync.ts stay orchestration only.
 */
import type { Config } from '../config/index.js';
import { DbFilter } from '../filters/db.js';
import { classifyReplyError } from '../net/errors.js';
import { RedisConnection } from '../net/connection.js';
import { type ConnectOptions, describeEndpoint, parseRedisUrl } from '../net/url.js';
import type { Logger, RunStats } from '../obs/index.js';
import type { ServerInfo } from '../net/probe.js';
import { printableKey, StandaloneSink, type SinkStats } from '../sinks/index.js';
import type { Writer } from '../sinks/types.js';
import { probeCaps } from './probe.js';
import { openClusterTarget } from './target-cluster.js';

export interface Endpoint {
  host: string;
  port: number;
  username: string | undefined;
  password: string | undefined;
}

/** URL + the --*-user / --*-password overrides → connection options. */
export function endpointOf(url: string, user: string | null, password: string | null): Endpoint {
  const o = parseRedisUrl(url);
  return {
    host: o.host,
    port: o.port,
    username: user ?? o.username,
    password: password ?? o.password,
  };
}

/** A key for a one-line message: printable, `\xNN` escapes, cut when long. */
export function escapeKey(key: Buffer): string {
  return printableKey(key);
}

export interface Target {
  readonly address: string;
  readonly caps: ServerInfo;
  describe(): string;
  /** Keys per DB (INFO keyspace). */
  keyspace(): Promise<Map<number, number>>;
  /** Up to `n` key names of `db` (one SCAN step on a separate connection: the sink's stays untouched). */
  sampleKeys(db: number, n: number): Promise<Buffer[]>;
  /** FLUSHDB each of `dbs` that holds keys; returns what each held. Runs before any write. */
  flushDbs(dbs: Iterable<number>): Promise<Map<number, number>>;
  /**
   * The sink on the target connection; `wrap` puts a writer between them (the checkpoint writer),
   * which then owns the connection.
   */
  createSink(log: Logger, wrap?: (conn: RedisConnection) => Writer): StandaloneSink;
  /** A new connection like the sink's (the checkpoint writer's reconnects). */
  openConnection(): Promise<RedisConnection>;
  updateStats(sink: unknown, stats: RunStats): void;
  close(): Promise<void>;
}

function connectOptions(c: Config): ConnectOptions {
  const e = endpointOf(c.target!, c.targetUser, c.targetPassword);
  const o: ConnectOptions = { host: e.host, port: e.port, name: 'replicant' };
  if (e.username !== undefined) o.username = e.username;
  if (e.password !== undefined) o.password = e.password;
  return o;
}

/**
 * Several source DBs mapped into one target DB (`--db-map 1:0`, a cluster target): in report mode the
 * target DBs start empty, so a key the target already has during the copy came from another source DB.
 */
function mergesDbs(c: Config): boolean {
  const f = new DbFilter({ dbs: c.dbs, dbMap: c.dbMap });
  const seen = new Set<number>();
  for (let db = 0; db < 256; db++) {
    const t = f.map(db);
    if (t === null) continue;
    if (seen.has(t)) return true;
    seen.add(t);
  }
  return false;
}

export async function openTarget(c: Config, log: Logger): Promise<Target> {
  const opts = connectOptions(c);
  const address = describeEndpoint(opts);
  const conn = await RedisConnection.connect(opts, 'target');
  let caps: ServerInfo;
  try {
    caps = await probeCaps(conn, address, true);
  } catch (err) {
    conn.destroy();
    throw err;
  }
  log.debug(
    { target: address, family: caps.family, version: caps.version, maxRdbVersion: caps.maxRdbVersion },
    'target probed',
  );
  const sinkOpts = {
    onConflict:
      c.onConflict === 'skip'
        ? ('skip' as const)
        : c.onConflict === 'report' && mergesDbs(c)
          ? ('error' as const)
          : ('overwrite' as const),
    bigKeyBytes: c.bigKeyBytes,
    restore: c.noRestore ? ('never' as const) : ('auto' as const),
    skipFunctions: c.skipFunctions,
    hashFieldTtl: c.hashFieldTtl,
    classify: classifyReplyError,
  };
  // A cluster node: slot routing over one connection per master (src/cli/target-cluster.ts).
  if (caps.clusterEnabled) return openClusterTarget(c, log, { opts, conn, caps, address, sinkOpts });
  const keyspace = async (): Promise<Map<number, number>> => {
    // Read again (not the probe's copy): the check must see the target as it is now.
    const info = String(await conn.call(['INFO', 'keyspace']));
    const out = new Map<number, number>();
    for (const m of info.matchAll(/^db(\d+):keys=(\d+)/gm)) out.set(Number(m[1]), Number(m[2]));
    return out;
  };
  return {
    address,
    caps,
    describe: () => `${caps.family} ${caps.version}`,
    keyspace,
    async sampleKeys(db: number, n: number): Promise<Buffer[]> {
      const side = await RedisConnection.connect({ ...opts, db }, 'target');
      try {
        const keys: Buffer[] = [];
        let cursor: Buffer | string = '0';
        do {
          const r = (await side.call(['SCAN', cursor, 'COUNT', 100])) as [Buffer, Buffer[]];
          cursor = r[0];
          keys.push(...r[1]);
        } while (keys.length < n && String(cursor) !== '0');
        return keys.slice(0, n).sort(Buffer.compare);
      } finally {
        await side.close();
      }
    },
    async flushDbs(dbs: Iterable<number>): Promise<Map<number, number>> {
      const wanted = new Set(dbs);
      const flushed = new Map<number, number>();
      for (const [db, n] of await keyspace()) {
        if (n === 0 || !wanted.has(db)) continue;
        // A side connection per DB: the sink's connection keeps its own SELECT state untouched.
        const side = await RedisConnection.connect({ ...opts, db }, 'target');
        try {
          await side.call(['FLUSHDB']);
        } finally {
          await side.close();
        }
        flushed.set(db, n);
      }
      return flushed;
    },
    createSink(sinkLog: Logger, wrap?: (conn: RedisConnection) => Writer): StandaloneSink {
      const sink = new StandaloneSink(wrap ? wrap(conn) : conn, caps, { ...sinkOpts, log: sinkLog });
      sinkLog.debug(
        { bigKeyBytes: sink.bigKeyBytes, chunkBytes: sink.chunkBytes, restore: sinkOpts.restore },
        'target writer ready',
      );
      return sink;
    },
    openConnection: () => RedisConnection.connect(opts, 'target'),
    updateStats: updateSinkStats,
    async close(): Promise<void> {
      if (!conn.closed) await conn.close().catch(() => conn.destroy());
    },
  };
}

/** The sink's counters → the run's stats (the summary, /status, /metrics read those). */
export function updateSinkStats(sink: unknown, stats: RunStats): void {
  const s = (sink as { stats?: SinkStats }).stats;
  if (!s) return;
  let restored = 0;
  let rewritten = 0;
  for (const t of Object.keys(s.restored) as (keyof SinkStats['restored'])[]) {
    restored += s.restored[t];
    rewritten += s.rewritten[t];
  }
  // Strings sent as SET/MSET count as rewritten in the sink; the summary shows them on their own row.
  const set = s.rewriteReasons['string-set'] ?? 0;
  stats.writesRestore = restored;
  stats.writesRewrite = rewritten - set;
  stats.writesSet = set;
  for (const t of Object.keys(s.restored) as (keyof SinkStats['restored'])[]) {
    const w = stats.writesByType[t];
    w.restore = s.restored[t];
    w.set = t === 'string' ? set : 0;
    w.rewrite = s.rewritten[t] - w.set;
  }
  for (const [reason, n] of Object.entries(s.skipped)) stats.skipped[reason] = n;
  stats.functions = s.functions;
  // Keys whose last write the target acknowledged (conflict-skipped keys are not counted).
  stats.keysWritten = s.keysWritten;
}
