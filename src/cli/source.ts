/**
 * The source address of the live commands (sync, precheck, verify): --source, or the master the
 * Sentinels name for --source-master-name (src/replication/sentinel.ts). sync asks again before
 * every reconnect of its replica link; precheck and verify ask once, before they start.
 */
import type { Config } from '../config/index.js';
import type { Logger } from '../obs/index.js';
import { resolveMaster } from '../replication/sentinel.js';
import { type Endpoint, endpointOf } from './target.js';

/** The source address: --source, or what the Sentinels name (asked on every call). */
export function sourceLocator(c: Config, log: Logger): () => Promise<Endpoint> {
  if (!c.sourceSentinel) {
    const e = endpointOf(c.source!, c.sourceUser, c.sourcePassword);
    return () => Promise.resolve(e);
  }
  const sentinels = [c.sourceSentinel];
  const masterName = c.sourceMasterName!;
  return async () => {
    const m = await resolveMaster({ sentinels, masterName });
    log.info({ master: `${m.host}:${m.port}`, masterName }, 'source master named by Sentinel');
    return {
      host: m.host,
      port: m.port,
      username: c.sourceUser ?? undefined,
      password: c.sourcePassword ?? undefined,
    };
  };
}

/** The config with --source set to `e` (user and password stay in --source-user/--source-password). */
export function withSource(c: Config, e: { host: string; port: number }): Config {
  const host = e.host.includes(':') ? `[${e.host}]` : e.host; // IPv6 in a URL
  return { ...c, source: `redis://${host}:${e.port}` };
}

/** With --source-sentinel: the config pointing at the master the Sentinels name now; else `c`. */
export async function resolveSource(c: Config, log: Logger): Promise<Config> {
  if (!c.sourceSentinel) return c;
  return withSource(c, await sourceLocator(c, log)());
}
