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
 * With --state-dir (a standalone target only) each shard is checkpointed on its own: a CheckpointWriter
 * on the shard's own target connection writes the shard's key (`replicant:checkpoint:<slot ranges>`,
 * src/checkpoint/shards.ts) in the same transactions as the shard's stream writes, a StateCopyWriter
 * keeps the shard's copy in --state-dir, and a start decides per shard (decideResume): continue by
 * PSYNC from the shard's key (to the shard's current master, which after a failover accepts the old
 * replid), or copy that shard again. A shard's new full copy over this migration's own writes first
 * removes the target keys of that shard's slots (when the target held nothing else: `exclusive`) —
 * never the other shards' keys. Checkpoints of slots no shard has any more (resharding between runs)
 * stop the start with ERR_CHECKPOINT_LAYOUT (--flush-target starts over). A cluster target with
 * --state-dir is refused.
 */
import { readdirSync, rmSync } from 'node:fs';
import {
  CheckpointSink,
  CheckpointWriter,
  checkpointLayout,
  checkpointPath,
  decideResume,
  emptyShardSlots,
  type ResumeDecision,
  readStateCopy,
  readTargetCheckpoint,
  SHARD_FILE_PREFIX,
  SHARD_KEY_PREFIX,
  type ShardCheckpoint,
  StateCopyWriter,
  shardCheckpoint,
  type TargetCheckpoint,
} from '../checkpoint/index.js';
import type { Config } from '../config/index.js';
import { isReconnectable } from '../error-codes.js';
import { EXIT_INCOMPLETE, ReplicantError } from '../errors.js';
import { buildFilters } from '../filters/index.js';
import { keySlot, readTopology, type Shard, type Topology } from '../net/cluster.js';
import { RedisConnection } from '../net/connection.js';
import {
  type Logger,
  newRunStats,
  partialCopyLine,
  Progress,
  progressRenderer,
  type RunStats,
  summaryText,
} from '../obs/index.js';
import type { Position, Sink } from '../records.js';
import { precheckBeforeWrite } from '../precheck/index.js';
import { ReplicaSource } from '../sources/replica.js';
import { TranslatingSink } from '../translate/index.js';
import type { RunContext } from './main.js';
import { checkRunDbs } from '../precheck/dbs.js';
import { prepareTarget } from './restore.js';
import { RetryBudget } from './retry.js';
import { startStatus } from './status.js';
import { CountingSink } from './sync.js';
import { type Endpoint, endpointOf, openTarget, type Target } from './target.js';

/** The target db of the shard checkpoint keys (as the standalone run's). */
const KEY_DB = 0;

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
  /** What the source feeds: translation over `sink`, under a CheckpointSink when checkpointed. */
  head: Sink;
  source: ReplicaSource;
  /** The position `source` was made to continue from (null: it makes a full copy). */
  from: Position | null;
  stats: RunStats;
  reconnects: number;
  /** --state-dir: the shard's checkpoint (names), writer and state-dir copy. */
  ck: ShardCheckpoint | null;
  cw: CheckpointWriter | null;
  copy: StateCopyWriter | null;
  /** A source link of this shard got as far as a sync (a later loss is not a wrong address). */
  synced: boolean;
  /** How long this shard's link is retried (--max-full-copies, --reconnect-timeout). */
  budget: RetryBudget;
}

/** Per shard: what the start decided from its key and copy. */
interface ShardStart {
  ck: ShardCheckpoint;
  found: TargetCheckpoint | null;
  decision: ResumeDecision;
}

export async function runClusterSync(ctx: RunContext, src: Endpoint): Promise<number> {
  const c = ctx.config;
  const log = ctx.log.child({ component: 'sync-cluster' });
  const stats = newRunStats('sync');
  const filters = buildFilters(c);
  stats.phase = 'connecting';
  if (!c.skipPrecheck) await precheckBeforeWrite(c, 'sync', log);
  let topo = await discover(src, [src]);
  log.info(
    { source: `${src.host}:${src.port}`, shards: topo.shards.length, via: topo.via },
    'source is a cluster: one replica link per shard',
  );

  const first = await openTarget(c, log);
  const pairs = filters.db.targets([0]);
  const targetDbs = [...new Set(pairs.map(([, t]) => t))];
  const dst = endpointOf(c.target!, null, null);
  const identityOf = (node: { host: string; port: number }) => ({
    source: `${node.host}:${node.port}`,
    target: `${dst.host}:${dst.port}`,
    dbs: c.dbs,
    dbMap: c.dbMap,
  });
  /** --state-dir: the decision per shard (index of topo.shards). */
  let starts: ShardStart[] | null = null;
  let exclusive = c.onConflict === 'report' || c.flushTarget;
  let dbCount: number | null = null;
  try {
    dbCount = await checkRunDbs(first, c, filters.db, 'cluster'); // target DBs exist (ERR_TARGET_DB), before any write
    if (c.stateDir && first.caps.clusterEnabled)
      throw new ReplicantError(
        'ERR_CONFIG',
        '--state-dir (checkpoint and resume) does not cover a cluster target yet',
        { hint: 'leave out --state-dir: a run into a cluster starts with a full copy' },
      );
    if (c.stateDir) {
      const planned = await planShards(c, c.stateDir, first, topo, identityOf, log);
      starts = planned.starts;
      if (planned.ownTarget) exclusive = planned.exclusive;
      else await prepareTarget(first, c, pairs, log);
    } else await prepareTarget(first, c, pairs, log);
  } catch (err) {
    await first.close();
    throw err;
  }
  const runs: ShardRun[] = [];
  const status = await startStatus(c, stats, log, () => ({
    shards: runs.map((r) => ({
      node: `${r.node.host}:${r.node.port}`,
      heartbeatKey: r.heartbeat,
      reconnects: r.reconnects,
      ...shardStatus(r),
      ...(r.cw
        ? { checkpointKey: r.ck!.key, checkpoint: r.cw.applied, checkpointWriter: { ...r.cw.stats } }
        : {}),
    })),
  })).catch(async (err: unknown) => {
    // Not opened: the target connection must not keep the process alive behind the error.
    await first.close();
    throw err;
  });
  let progress: Progress | null = null;
  let timer: NodeJS.Timeout | null = null;
  let stopping = false;
  try {
    for (const [i, shard] of topo.shards.entries()) {
      const node = pickNode(shard, c.preferReplica);
      const target = i === 0 ? first : await openTarget(c, log);
      const shardStats = newRunStats('sync');
      const start = starts?.[i] ?? null;
      const shardLog = ctx.log.child({ component: 'checkpoint', shard: start?.ck.tag });
      let cw: CheckpointWriter | null = null;
      let copy: StateCopyWriter | null = null;
      if (start !== null && c.stateDir) {
        const sc = new StateCopyWriter(
          c.stateDir,
          { ...identityOf(node), key: start.ck.key, keyDb: KEY_DB },
          1000,
          start.ck.file,
        );
        copy = sc;
        cw = new CheckpointWriter(await target.openConnection(), {
          key: start.ck.key,
          db: KEY_DB,
          source: `${node.host}:${node.port}`,
          exclusive,
          connect: () => target.openConnection(),
          onApplied: (cp: TargetCheckpoint) => sc.update(cp),
          log: shardLog,
        });
      }
      const w = cw;
      const writer = target.createSink(log, w ? () => w : undefined);
      writer.setDatabases(dbCount);
      const sink = new CountingSink(writer, shardStats, c.skipFunctions);
      const translated = new TranslatingSink(sink, {
        target: target.caps,
        skipFunctions: c.skipFunctions,
        hashFieldTtl: c.hashFieldTtl,
        skippedKey: (db, key) => writer.isSkippedKey(db, key),
      });
      const run: ShardRun = {
        slot: shard.ranges[0]![0],
        node,
        heartbeat: heartbeatKeyFor(c.heartbeatKey, shard),
        target,
        sink,
        head: w ? new CheckpointSink(translated, w) : translated,
        source: null as unknown as ReplicaSource,
        from: null,
        stats: shardStats,
        reconnects: 0,
        ck: start?.ck ?? null,
        cw,
        copy,
        synced: false,
        budget: new RetryBudget({ maxFullCopies: c.maxFullCopies, reconnectTimeoutMs: c.reconnectTimeout }),
      };
      const from = start?.decision.resume ?? null;
      // Checkpointed: a shard that continues from its key, or copies again over its own earlier
      // copy, empties its slots on the target when the source answers with a full sync.
      run.source = makeSource(run, from, start !== null && (from !== null || start.decision.ownTarget));
      run.from = from;
      runs.push(run);
    }

    /**
     * The shard's source link. `recopy` (checkpointed only): a full sync first removes the target keys
     * of the shard's slots (over this migration's own writes). Not checkpointed, a resume must continue.
     */
    function makeSource(run: ShardRun, from: Position | null, recopy: boolean): ReplicaSource {
      const writer = run.sink.inner as unknown as { decoderOptions(): object };
      return new ReplicaSource(run.head, {
        host: run.node.host,
        port: run.node.port,
        username: src.username,
        password: src.password,
        filter: filters.db.identity && filters.keys.length === 0 ? undefined : filters.source,
        // The heartbeat is written to the shard's master (a replica refuses writes: lag stays unknown).
        heartbeat: { key: run.heartbeat, write: !c.preferReplica },
        rdb: { onUnsupported: c.skipUnsupported ? 'skip' : 'error', ...writer.decoderOptions() },
        // Each shard's spool is its own mkdtemp directory; with --state-dir they live there.
        spool: {
          ...(c.stateDir ? { dir: c.stateDir } : {}),
          memoryLimitBytes: c.spoolMemory,
          diskLimitBytes: c.spoolLimit,
        },
        ...(from ? { resume: from } : {}),
        ...(run.cw
          ? recopy
            ? { onFullSync: () => emptyShard(run) }
            : {}
          : from
            ? { requireContinue: true }
            : {}),
        log: ctx.log.child({ component: 'replica-link', shard: `${run.node.host}:${run.node.port}` }),
      });
    }

    /** A new full copy of one shard over this migration's writes: its slots' keys go first (exclusive). */
    async function emptyShard(run: ShardRun): Promise<void> {
      const ck = run.ck!;
      if (!exclusive) {
        log.warn(
          { shard: ck.tag },
          "a new full copy of this shard over this migration's earlier writes: the target held other keys when it began, so its slots are not emptied; keys the source deleted meanwhile may remain (--flush-target empties the target)",
        );
        return;
      }
      const conn = await run.target.openConnection();
      try {
        const removed = await emptyShardSlots((argv) => conn.call(argv), {
          ranges: ck.ranges,
          dbs: targetDbs,
          keyDb: KEY_DB,
          key: ck.key,
          marker: run.cw!.snapshotValue(),
        });
        log.warn(
          { shard: ck.tag, keys: removed },
          "a new full copy of this shard: removed the target keys of its slots first (other shards' keys untouched)",
        );
      } finally {
        await conn.close().catch(() => conn.destroy());
      }
    }

    /** Where a new link of the shard continues from (null: not resumable). */
    function resumable(run: ShardRun): Position | null {
      const w = run.cw;
      if (w) return w.phase === 'tx' && w.applied?.replid ? toPosition(w.applied) : null;
      // A link lost before the source answered its PSYNC leaves the point it was to continue from.
      return run.source.acked ?? (run.source.fullCopyBegun ? null : run.from);
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
    stats.finishedAtMs = Date.now();
    /** Some shard stopped inside its full copy: the target holds part of the source. */
    const incomplete = runs.some((r) => !r.source.copyComplete);
    if (failure !== null) {
      // What reached the target before the error, then the error.
      process.stderr.write(summaryText(stats, 'sync failed'));
      if (incomplete) process.stderr.write(partialCopyLine(stats, failure));
      throw failure;
    }
    stats.phase = 'stopped';
    process.stderr.write(summaryText(stats, 'sync stopped'));
    if (incomplete) {
      for (const r of runs) r.copy?.flush();
      process.stderr.write(partialCopyLine(stats));
      throw new ReplicantError(
        'ERR_INTERRUPTED',
        `sync stopped before the full copy of ${runs.filter((r) => !r.source.copyComplete).length} of ${runs.length} shards was complete: the copy is incomplete`,
        {
          hint: c.stateDir
            ? 'start again with the same --state-dir: the shards whose copy was not complete are copied again'
            : 'start again with --flush-target (the target DBs are emptied and copied again); with --state-dir a later stop in the stream phase resumes where it stopped',
          exitCode: EXIT_INCOMPLETE,
        },
      );
    }
    for (const r of runs) {
      r.copy?.flush();
      const at = r.cw?.applied ?? null;
      if (at)
        log.info(
          { shard: r.ck!.tag, replid: at.replid, offset: at.offset, phase: at.phase },
          at.phase === 'stream'
            ? 'shard checkpoint on the target: the next start with this --state-dir continues this shard from here'
            : 'shard stopped inside its full copy: the next start copies this shard again',
        );
    }
    return 0;

    async function runShard(run: ShardRun): Promise<void> {
      let attempt = 0;
      for (;;) {
        try {
          await run.source.run();
          return;
        } catch (err) {
          const code = (err as { code?: string }).code ?? '';
          run.synced ||= run.source.link.sync !== null;
          if (stopping || ctx.signal.aborted || !isReconnectable(code, 'source')) throw err;
          if (!run.cw && resumable(run) === null) throw err;
          // Flushed before deciding: the end of a copy may be acknowledged only now.
          await run.head.flush();
          const from = resumable(run);
          // Checkpointed, lost inside the shard's copy: a new full copy of the shard (its slots
          // emptied first when exclusive) — unless it never synced (the address is the user's to fix).
          if (from === null && !run.synced) throw err;
          if (from === null && !exclusive && c.onConflict === 'skip')
            throw new ReplicantError(
              'ERR_SOURCE_LOST_IN_COPY',
              `source link of the shard with slots ${run.ck!.tag} lost during its full copy (${(err as Error).message}); with --on-conflict skip over a target that held other keys a new copy would keep the keys the lost one wrote in part`,
              {
                hint: 'start again with --flush-target (the target DB is emptied and copied again) or --on-conflict overwrite',
                cause: err,
              },
            );
          // A shard source that keeps failing is not retried for ever.
          const left = run.budget.lost(err, {
            resumeOffset: from?.offset ?? null,
            copyBegun: run.source.fullCopyBegun,
          });
          attempt++;
          const delayMs = Math.round(
            Math.min(left, Math.min(10_000, 200 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2)),
          );
          stats.errors[code] = (stats.errors[code] ?? 0) + 1;
          log.warn(
            {
              code,
              attempt,
              delayMs,
              shard: `${run.node.host}:${run.node.port}`,
              offset: from?.offset ?? null,
            },
            from
              ? `shard link lost (${(err as Error).message}); reading the topology again to continue by PSYNC`
              : `shard link lost during its full copy (${(err as Error).message}); reading the topology again for a new full copy of the shard`,
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
          run.source = makeSource(run, from, true);
          run.from = from;
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
    // Writers first (replies that arrive while they close still move the checkpoint), then the copies.
    await Promise.all(runs.map((r) => r.cw?.close()));
    for (const r of runs) r.copy?.flush();
    await Promise.all(runs.length > 0 ? runs.map((r) => r.target.close()) : [first.close()]);
  }
}

/**
 * --state-dir at the start of a cluster-source run: the layout check (checkpoints of slots no shard
 * has now: ERR_CHECKPOINT_LAYOUT), then decideResume per shard from its key (target db 0) and its
 * --state-dir copy. `ownTarget`: some shard found its key — the target holds this migration's earlier
 * writes, so the conflict check does not apply; `exclusive` then is what those keys say (all of them).
 * A shard without key nor copy starts fresh (it had not begun its copy: nothing of it is on the
 * target). Without any key the copies are removed and the caller runs the conflict check.
 */
async function planShards(
  c: Config,
  dir: string,
  target: Target,
  topo: Topology,
  identityOf: (n: { host: string; port: number }) => {
    source: string;
    target: string;
    dbs: Config['dbs'];
    dbMap: Config['dbMap'];
  },
  log: Logger,
): Promise<{ starts: ShardStart[]; ownTarget: boolean; exclusive: boolean }> {
  const cks = topo.shards.map((s) => shardCheckpoint(s.ranges));
  const conn = await target.openConnection();
  const found: (TargetCheckpoint | null)[] = [];
  let keys: string[];
  try {
    await conn.call(['SELECT', KEY_DB]);
    keys = [];
    let cursor = '0';
    do {
      const r = (await conn.call(['SCAN', cursor, 'MATCH', `${SHARD_KEY_PREFIX}*`, 'COUNT', 1000])) as [
        Buffer,
        Buffer[],
      ];
      cursor = String(r[0]);
      for (const k of r[1]) keys.push(String(k));
    } while (cursor !== '0');
    for (const ck of cks) found.push(await readTargetCheckpoint((argv) => conn.call(argv), ck.key, KEY_DB));
  } finally {
    await conn.close().catch(() => conn.destroy());
  }
  let files: string[] = [];
  try {
    files = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const plan = checkpointLayout(cks, keys, files, c.flushTarget);
  for (const f of plan.staleFiles) rmSync(checkpointPath(dir, f), { force: true });
  const starts: ShardStart[] = cks.map((ck, i) => ({
    ck,
    found: found[i]!,
    decision: decideResume(
      found[i]!,
      readStateCopy(dir, ck.file),
      identityOf(pickNode(topo.shards[i]!, c.preferReplica)),
      c.flushTarget,
    ),
  }));
  const own = starts.filter((s) => s.decision.ownTarget);
  if (own.length === 0) {
    // Other runs' copies (or --flush-target): discarded with their data.
    for (const ck of cks) rmSync(checkpointPath(dir, ck.file), { force: true });
    for (const f of files)
      if (f.startsWith(SHARD_FILE_PREFIX)) rmSync(checkpointPath(dir, f), { force: true });
  }
  for (const s of starts)
    log.info(
      {
        shard: s.ck.tag,
        key: s.ck.key,
        replid: s.decision.resume?.replid,
        offset: s.decision.resume?.offset,
        phase: s.found?.phase ?? null,
      },
      s.decision.ownTarget
        ? `shard ${s.ck.tag}: ${s.decision.reason} (the target holds this migration's earlier writes: no conflict check)`
        : own.length > 0
          ? `shard ${s.ck.tag}: no checkpoint (its copy had not begun): a full copy of this shard`
          : `shard ${s.ck.tag}: ${s.decision.reason}`,
    );
  return {
    starts,
    ownTarget: own.length > 0,
    exclusive: own.length > 0 && own.every((s) => s.found?.exclusive === true),
  };
}

function toPosition(cp: TargetCheckpoint): Position {
  return { replid: cp.replid!, offset: cp.offset!, db: cp.db ?? 0 };
}

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
