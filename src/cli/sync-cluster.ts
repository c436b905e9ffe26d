/**
 * Live sync from a Redis Cluster source (design §5): the topology is read from the --source node, then
 * one pipeline per shard — its own replica link (PSYNC to the shard's master, or to one of its replicas
 * with --prefer-replica), its own heartbeat key hash-tagged to land on that shard, its own target
 * connection (or ClusterWriter) and sink, its own offsets and status. Shards are independent: a key
 * lives on one shard, so order per key is the order of one stream.
 *
 * A link lost in the stream phase (the node died, or a failover demoted it) is resumed: the topology
 * is read again from any node that answers, the shard is found again by its slots, and the link
 * reconnects to the shard's current master by PSYNC from what the target acknowledged (a promoted
 * replica keeps the replication ID history, so this continues without a full copy).
 *
 * Not covered: --state-dir checkpoints (a cluster source always starts with a full copy per shard).
 */
import { ReplicantError } from '../errors.js';
import { buildFilters } from '../filters/index.js';
import { keySlot, readTopology, type Shard, type Topology } from '../net/cluster.js';
import { RedisConnection } from '../net/connection.js';
import { newRunStats, Progress, progressRenderer, type RunStats, summaryText } from '../obs/index.js';
import type { Position } from '../records.js';
import { precheckBeforeWrite } from '../precheck/index.js';
import { ReplicaSource } from '../sources/replica.js';
import { TranslatingSink } from '../translate/index.js';
import type { RunContext } from './main.js';
import { prepareTarget } from './restore.js';
import { startStatus } from './status.js';
import { CountingSink } from './sync.js';
import { type Endpoint, openTarget, type Target } from './target.js';

/** Is the --source a cluster node? (One INFO on a short-lived connection.) */
export async function isClusterSource(src: Endpoint): Promise<boolean> {
  // Unreachable or refusing: not decided here; the replica link reports it with its own error.
  const conn = await RedisConnection.connect(connOpts(src), 'source').catch(() => null);
  if (conn === null) return false;
  try {
    const info = String(await conn.call(['INFO', 'cluster']));
    return /cluster_enabled:1/.test(info);
  } catch {
    return false;
  } finally {
    conn.destroy();
  }
}

function connOpts(e: {
  host: string;
  port: number;
  username?: string | undefined;
  password?: string | undefined;
}) {
  const o: { host: string; port: number; username?: string; password?: string } = {
    host: e.host,
    port: e.port,
  };
  if (e.username !== undefined) o.username = e.username;
  if (e.password !== undefined) o.password = e.password;
  return o;
}

/** A tag whose slot the shard serves: `{tag}` in the heartbeat key makes the shard's master accept it. */
export function heartbeatKeyFor(base: string, shard: Shard): string {
  const start = shard.ranges[0]![0];
  const end = shard.ranges[0]![1];
  for (let i = 0; i < 100_000; i++) {
    const s = keySlot(`hb${i}`);
    if (s >= start && s <= end) return `${base}{hb${i}}`;
  }
  return base;
}

interface ShardRun {
  /** The shard's first slot: how it is found again after a failover. */
  slot: number;
  node: { host: string; port: number };
  heartbeat: string;
  target: Target;
  sink: CountingSink;
  source: ReplicaSource;
  stats: RunStats;
  reconnects: number;
}

export async function runClusterSync(ctx: RunContext, src: Endpoint): Promise<number> {
  const c = ctx.config;
  const log = ctx.log.child({ component: 'sync-cluster' });
  const stats = newRunStats('sync');
  const filters = buildFilters(c);
  stats.phase = 'connecting';
  if (c.stateDir)
    throw new ReplicantError(
      'ERR_CONFIG',
      '--state-dir (checkpoint and resume) does not cover a cluster source yet',
      {
        hint: 'leave out --state-dir: each run from a cluster source starts with a full copy per shard',
      },
    );
  if (!c.skipPrecheck) await precheckBeforeWrite(c, 'sync', log);
  let topo = await discover(src, [src]);
  log.info(
    { source: `${src.host}:${src.port}`, shards: topo.shards.length, via: topo.via },
    'source is a cluster: one replica link per shard',
  );

  const first = await openTarget(c, log);
  await prepareTarget(first, c, filters.db.targets([0]), log);
  const runs: ShardRun[] = [];
  const status = await startStatus(c, stats, log, () => ({
    shards: runs.map((r) => ({
      node: `${r.node.host}:${r.node.port}`,
      heartbeatKey: r.heartbeat,
      reconnects: r.reconnects,
      ...shardStatus(r),
    })),
  }));
  let progress: Progress | null = null;
  let timer: NodeJS.Timeout | null = null;
  let stopping = false;
  try {
    for (const [i, shard] of topo.shards.entries()) {
      const node = pickNode(shard, c.preferReplica);
      const target = i === 0 ? first : await openTarget(c, log);
      const shardStats = newRunStats('sync');
      const writer = target.createSink(log);
      const sink = new CountingSink(writer, shardStats, c.skipFunctions);
      const run: ShardRun = {
        slot: shard.ranges[0]![0],
        node,
        heartbeat: heartbeatKeyFor(c.heartbeatKey, shard),
        target,
        sink,
        source: null as unknown as ReplicaSource,
        stats: shardStats,
        reconnects: 0,
      };
      run.source = makeSource(run, null);
      runs.push(run);
    }

    function makeSource(run: ShardRun, from: Position | null): ReplicaSource {
      const translated = new TranslatingSink(run.sink, {
        target: run.target.caps,
        skipFunctions: c.skipFunctions,
      });
      const writer = run.sink.inner as unknown as { decoderOptions(): object };
      return new ReplicaSource(translated, {
        host: run.node.host,
        port: run.node.port,
        username: src.username,
        password: src.password,
        filter: filters.db.identity && filters.keys.length === 0 ? undefined : filters.source,
        // The heartbeat is written to the shard's master (a replica refuses writes: lag stays unknown).
        heartbeat: { key: run.heartbeat, write: !c.preferReplica },
        rdb: { onUnsupported: c.skipUnsupported ? 'skip' : 'error', ...writer.decoderOptions() },
        spool: { diskLimitBytes: c.spoolLimit },
        ...(from ? { resume: from, requireContinue: true } : {}),
        log: ctx.log.child({ component: 'replica-link', shard: `${run.node.host}:${run.node.port}` }),
      });
    }

    const refresh = () => {
      let phase: RunStats['phase'] | null = null;
      stats.rdbBytesRead = 0;
      stats.rdbBytesTotal = 0;
      stats.keysRead = 0;
      stats.commands = 0;
      stats.sourceOffset = 0;
      stats.ackedOffset = 0;
      stats.receivedOffset = 0;
      stats.spoolBytes = 0;
      stats.lagMs = null;
      const sum: RunStats = newRunStats('sync');
      for (const r of runs) {
        const s = r.source.status();
        if (s.phase !== 'stopped' && (phase === null || order(s.phase) < order(phase))) phase = s.phase;
        stats.rdbBytesRead += s.rdbBytesApplied;
        stats.rdbBytesTotal! += s.rdbBytesTotal ?? 0;
        stats.keysRead += s.keys + s.keysFiltered;
        stats.commands += s.commands;
        stats.sourceOffset += s.offset;
        stats.ackedOffset += s.ackedOffset;
        stats.receivedOffset += s.receivedOffset;
        stats.spoolBytes += s.spoolBytes;
        if (s.lagMs !== null) stats.lagMs = Math.max(stats.lagMs ?? 0, s.lagMs);
        r.target.updateStats(r.sink.inner, r.stats);
        add(sum, r.stats);
      }
      if (phase !== null) stats.phase = phase;
      for (const k of ['writesRestore', 'writesRewrite', 'writesSet', 'functions'] as const)
        stats[k] = sum[k];
      stats.keysWritten = sum.keysWritten;
      stats.keysByType = sum.keysByType;
      stats.writesByType = sum.writesByType;
      stats.skipped = sum.skipped;
    };
    timer = setInterval(refresh, 500);
    timer.unref();
    progress = new Progress(progressRenderer(stats), { enabled: !c.noProgress });
    ctx.setProgress(progress);
    progress.start();

    const onAbort = () => {
      stopping = true;
      log.info('stopping: flushing the target and sending a final ACK on every shard');
      for (const r of runs) r.source.stop().catch(() => {});
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    let failure: unknown = null;
    try {
      await Promise.all(
        runs.map(async (run) => {
          try {
            await runShard(run);
          } catch (err) {
            // One shard failing ends the run: stop the others so their sinks flush and ACK.
            failure ??= err;
            stopping = true;
            for (const r of runs) if (r !== run) r.source.stop().catch(() => {});
          }
        }),
      );
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
    }
    refresh();
    progress.stop();
    if (failure !== null) throw failure;
    stats.finishedAtMs = Date.now();
    stats.phase = 'stopped';
    process.stderr.write(summaryText(stats, 'sync stopped'));
    return 0;

    async function runShard(run: ShardRun): Promise<void> {
      let attempt = 0;
      for (;;) {
        try {
          await run.source.run();
          return;
        } catch (err) {
          const code = (err as { code?: string }).code ?? '';
          const from = run.source.acked;
          if (stopping || ctx.signal.aborted || !RECONNECTABLE.has(code) || from === null) throw err;
          await run.sink.flush();
          attempt++;
          const delayMs = Math.round(
            Math.min(10_000, 200 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2),
          );
          stats.errors[code] = (stats.errors[code] ?? 0) + 1;
          log.warn(
            { code, attempt, delayMs, shard: `${run.node.host}:${run.node.port}`, offset: from.offset },
            `shard link lost (${(err as Error).message}); reading the topology again to continue by PSYNC`,
          );
          await sleep(delayMs);
          if (stopping || ctx.signal.aborted) return;
          try {
            const seeds = [src, ...runs.map((r) => r.node)];
            topo = await discover(src, seeds);
            const i = topo.slots[run.slot]!;
            if (i >= 0) run.node = pickNode(topo.shards[i]!, c.preferReplica);
          } catch (e) {
            log.warn({ err: (e as Error).message }, 'topology not readable yet; retrying the same node');
          }
          run.reconnects++;
          run.source = makeSource(run, { replid: from.replid, offset: from.offset, db: from.db });
        }
      }
    }
  } catch (err) {
    stats.phase = 'failed';
    progress?.stop();
    throw err;
  } finally {
    if (timer) clearInterval(timer);
    ctx.setProgress(null);
    await status?.close();
    await Promise.all(runs.length > 0 ? runs.map((r) => r.target.close()) : [first.close()]);
  }
}

const RECONNECTABLE = new Set([
  'ERR_SOURCE_LOST',
  'ERR_SOURCE_CONNECTION_LOST',
  'ERR_SOURCE_CONNECT',
  'ERR_SOURCE_BUSY',
  'ERR_CONNECT',
]);

const PHASES = ['connecting', 'waiting-bgsave', 'snapshot', 'stream'];
const order = (p: string): number => {
  const i = PHASES.indexOf(p);
  return i < 0 ? PHASES.length : i;
};

function shardStatus(r: ShardRun): Record<string, unknown> {
  const s = r.source.status();
  return {
    phase: s.phase,
    replid: s.replid,
    offset: s.offset,
    ackedOffset: s.ackedOffset,
    lagMs: s.lagMs,
    keys: s.keys,
    commands: s.commands,
    spoolBytes: s.spoolBytes,
  };
}

function add(sum: RunStats, s: RunStats): void {
  sum.writesRestore += s.writesRestore;
  sum.writesRewrite += s.writesRewrite;
  sum.writesSet += s.writesSet;
  sum.functions += s.functions;
  sum.keysWritten = (sum.keysWritten ?? 0) + (s.keysWritten ?? 0);
  for (const t of Object.keys(s.keysByType) as (keyof RunStats['keysByType'])[]) {
    sum.keysByType[t] += s.keysByType[t];
    sum.writesByType[t].restore += s.writesByType[t].restore;
    sum.writesByType[t].set += s.writesByType[t].set;
    sum.writesByType[t].rewrite += s.writesByType[t].rewrite;
  }
  for (const [k, n] of Object.entries(s.skipped)) sum.skipped[k] = (sum.skipped[k] ?? 0) + n;
}

function pickNode(shard: Shard, preferReplica: boolean): { host: string; port: number } {
  const n = preferReplica && shard.replicas.length > 0 ? shard.replicas[0]! : shard.master;
  return { host: n.host, port: n.port };
}

/** The topology from the first of `seeds` that answers. */
async function discover(src: Endpoint, seeds: { host: string; port: number }[]): Promise<Topology> {
  let last: unknown = null;
  for (const s of seeds) {
    let conn: RedisConnection | null = null;
    try {
      conn = await RedisConnection.connect(
        { ...connOpts(src), host: s.host, port: s.port, connectTimeoutMs: 3000 },
        'source',
      );
      const t = await readTopology(conn, s.host);
      if (t.shards.length > 0) return t;
    } catch (err) {
      last = err;
    } finally {
      conn?.destroy();
    }
  }
  throw new ReplicantError(
    'ERR_SOURCE_CONNECT',
    'no node of the source cluster answered CLUSTER SHARDS/SLOTS/NODES',
    {
      hint: 'check that --source points at a reachable node of the cluster',
      cause: last,
    },
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
