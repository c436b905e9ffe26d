/**
 * Does the target have the DBs this run writes to? A standalone server has `databases` DBs (16 by
 * default); `SELECT 20` into one with 16 fails, and writes pipelined behind it would run in the DB the
 * connection is still in. The precheck reports it (TARGET_DBS) and sync/restore stop on it before
 * writing (ERR_TARGET_DB), even with --skip-precheck; the sink's gated first SELECT per DB
 * (src/sinks/pipeline.ts) is the safety net for DBs only the stream or the RDB file reveals.
 *
 * The count comes from `CONFIG GET databases`; where CONFIG is denied, from SELECT probes (a binary
 * search over 1–256, then back to DB 0) on the connection given — never the sink's.
 */
import type { Config } from '../config/index.js';
import { ReplicantError, ServerReplyError } from '../errors.js';
import type { DbFilter } from '../filters/index.js';
import { type ConnectOptions, RedisConnection } from '../net/index.js';

/** What the checks need of a connection (RedisConnection fits). */
export interface DbCaller {
  call(argv: (string | number)[]): Promise<unknown>;
}

const txt = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('utf8') : v == null ? '' : String(v));

/** The target's DB count, or null when neither CONFIG GET nor SELECT may be used. */
export async function targetDatabases(conn: DbCaller, cluster: boolean): Promise<number | null> {
  if (cluster) return 1; // a cluster node has DB 0 only
  try {
    const r = (await conn.call(['CONFIG', 'GET', 'databases'])) as unknown[];
    const n = Number(txt(r?.[1]));
    if (Number.isInteger(n) && n > 0) return n;
  } catch (err) {
    if (!(err instanceof ServerReplyError)) throw err;
  }
  // CONFIG denied (ACL, managed services): the highest DB SELECT accepts, by bisection.
  const ok = async (db: number): Promise<boolean | null> => {
    try {
      await conn.call(['SELECT', db]);
      return true;
    } catch (err) {
      if (!(err instanceof ServerReplyError)) throw err;
      return err.prefix === 'NOPERM' ? null : false;
    }
  };
  if ((await ok(0)) !== true) return null;
  let lo = 1; // a count known to hold: DB lo-1 exists
  let hi = 257; // a count known to be too many (DB 256 never exists)
  while (lo + 1 < hi) {
    const mid = (lo + hi) >>> 1;
    const r = await ok(mid - 1);
    if (r === null) return null;
    if (r) lo = mid;
    else hi = mid;
  }
  await ok(0);
  return lo;
}

/** [source DB, target DB] pairs this run is known to write to before reading anything. */
export function plannedTargets(
  c: Config,
  filter: DbFilter,
  sourceDbs: Iterable<number> = [],
): [number, number][] {
  const seen = new Map<number, number>();
  const add = (s: number) => {
    const t = filter.map(s);
    if (t !== null && !seen.has(s)) seen.set(s, t);
  };
  if (c.dbs !== null) for (const s of c.dbs) add(s);
  else for (const [s] of c.dbMap ?? []) add(s);
  for (const s of sourceDbs) add(s);
  return [...seen].sort((a, b) => a[0] - b[0]);
}

/** The pairs whose target DB the target does not have. */
export function missingDbs(pairs: [number, number][], count: number): [number, number][] {
  return pairs.filter(([, t]) => t >= count);
}

export function describeMissing(
  missing: [number, number][],
  count: number,
): { message: string; fix: string } {
  const list = missing.map(([s, t]) => `source DB ${s} → target DB ${t}`).join(', ');
  const maps = missing.map(([s]) => `${s}:N`).join(',');
  return {
    message: `the target has ${count} DB${count === 1 ? '' : 's'} (0-${count - 1}), but this run writes ${list}`,
    fix: `map ${missing.length === 1 ? 'it' : 'them'} into DBs below ${count} (--db-map ${maps}), or raise \`databases\` in the target's config (needs a restart)`,
  };
}

/**
 * At the start of sync/restore, before any write: stop with ERR_TARGET_DB when a target DB of the run
 * does not exist, and tell the filter the count (FLUSHALL's FLUSHDBs stay below it).
 */
export async function checkTargetDbs(
  conn: DbCaller,
  cluster: boolean,
  c: Config,
  filter: DbFilter,
): Promise<number | null> {
  const count = await targetDatabases(conn, cluster);
  if (count === null) return null; // the sink's gated SELECT still stops the run on a missing DB
  filter.setDatabases({ target: count });
  if (cluster) return count; // a cluster's DB 0 only: the cluster writer names --db-map (ERR_CLUSTER_DB)
  const missing = missingDbs(plannedTargets(c, filter), count);
  if (missing.length === 0) return count;
  const d = describeMissing(missing, count);
  throw new ReplicantError('ERR_TARGET_DB', `${d.message}: nothing was written`, { hint: d.fix });
}

/**
 * The hook sync/restore call once the target is open: the check above on a side connection of the
 * target, and (sync) the source's DB count for the filter, so a FLUSHALL becomes FLUSHDBs of the
 * target DBs that source DBs really exist for. Returns the target's DB count for the sink
 * (StandaloneSink.setDatabases), or null when unknown or a cluster.
 */
export async function checkRunDbs(
  target: { caps: { clusterEnabled: boolean }; openConnection(): Promise<RedisConnection> },
  c: Config,
  filter: DbFilter,
  source: ConnectOptions | 'cluster' | null = null,
): Promise<number | null> {
  if (source === 'cluster') filter.setDatabases({ source: 1 });
  else if (source !== null) {
    const conn = await RedisConnection.connect({ ...source, name: 'replicant-dbs' }, 'source').catch(
      () => null,
    );
    if (conn !== null) {
      try {
        const n = await targetDatabases(conn, false).catch(() => null);
        if (n !== null) filter.setDatabases({ source: n });
      } finally {
        await conn.close().catch(() => conn.destroy());
      }
    }
  }
  if (target.caps.clusterEnabled) {
    // DB 0 only; no side connection (a cluster target has none to give). The sink gets no count: the
    // cluster writer answers another DB itself (ERR_CLUSTER_DB, naming --db-map).
    filter.setDatabases({ target: 1 });
    return null;
  }
  const conn = await target.openConnection();
  try {
    return await checkTargetDbs(conn, false, c, filter);
  } finally {
    await conn.close().catch(() => conn.destroy());
  }
}

/** Connection options for the source a sync reads from (user and password only when given). */
export function sourceEndpoint(src: {
  host: string;
  port: number;
  username?: string | undefined;
  password?: string | undefined;
}): ConnectOptions {
  const o: ConnectOptions = { host: src.host, port: src.port };
  if (src.username !== undefined) o.username = src.username;
  if (src.password !== undefined) o.password = src.password;
  return o;
}
