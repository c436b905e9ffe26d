/**
 * The optional status server of a run (`--status-port`): /status and /metrics over the run's stats.
 */
import type { Config } from '../config/index.js';
import {
  createMetrics,
  type Logger,
  type RunStats,
  type StatusServer,
  startStatusServer,
  statusJson,
} from '../obs/index.js';

export async function startStatus(
  c: Config,
  stats: RunStats,
  log: Logger,
  extra?: () => Record<string, unknown>,
): Promise<StatusServer | null> {
  if (c.statusPort === null) return null;
  const registry = createMetrics(() => stats);
  const srv = await startStatusServer({
    host: c.statusHost,
    port: c.statusPort,
    token: c.statusToken,
    registry,
    status: () => (extra ? { ...statusJson(stats), ...extra() } : statusJson(stats)),
  });
  log.info({ url: srv.url }, 'status server listening (/status, /metrics)');
  return srv;
}
