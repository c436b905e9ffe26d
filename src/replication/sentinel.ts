/**
 * Source failover through Sentinel (issue #6 §4): ask the Sentinels which server is the master of
 * `--source-master-name`, before the first connection and again before every reconnect of the
 * replica link. After a failover the promoted replica answers our `PSYNC <old replid> <offset+1>`
 * with +CONTINUE (psync2, Redis 4.0+: it keeps the old history as its replid2), so following it costs
 * no full copy.
 *
 * Sentinels are tried in order; the first that knows the name answers. During a failover a Sentinel
 * may still name the old master for a few seconds: the caller's reconnect loop (backoff with jitter)
 * simply asks again.
 */
import { ReplicantError } from '../errors.js';
import { RedisConnection } from '../net/connection.js';

export interface SentinelOptions {
  sentinels: readonly { host: string; port: number }[];
  masterName: string;
  username?: string | undefined;
  password?: string | undefined;
  connectTimeoutMs?: number;
}

/** The master's address as the Sentinels currently see it. */
export async function resolveMaster(o: SentinelOptions): Promise<{ host: string; port: number }> {
  const errors: string[] = [];
  for (const s of o.sentinels) {
    let conn: RedisConnection | null = null;
    try {
      conn = await RedisConnection.connect(
        {
          host: s.host,
          port: s.port,
          connectTimeoutMs: o.connectTimeoutMs ?? 3000,
          ...(o.username !== undefined ? { username: o.username } : {}),
          ...(o.password !== undefined ? { password: o.password } : {}),
        },
        'source',
      );
      const r = (await conn.call(['SENTINEL', 'get-master-addr-by-name', o.masterName])) as Buffer[] | null;
      if (r === null || r.length < 2) {
        errors.push(`${s.host}:${s.port} does not monitor "${o.masterName}"`);
        continue;
      }
      return { host: r[0]!.toString(), port: Number(r[1]!.toString()) };
    } catch (err) {
      errors.push(`${s.host}:${s.port}: ${(err as Error).message}`);
    } finally {
      await conn?.close().catch(() => conn?.destroy());
    }
  }
  const unknown = errors.every((e) => e.includes('does not monitor'));
  throw new ReplicantError(
    unknown ? 'ERR_SENTINEL_UNKNOWN_MASTER' : 'ERR_SENTINEL_UNREACHABLE',
    `no Sentinel named the master "${o.masterName}": ${errors.join('; ')}`,
    {
      hint: unknown
        ? 'check --source-master-name against `SENTINEL masters` on the Sentinel'
        : 'check --source-sentinel (host:port of a Sentinel, default port 26379) and that it is reachable',
    },
  );
}
