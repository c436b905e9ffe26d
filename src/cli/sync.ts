/**
 * The default command: live sync. `ReplicaSource` (poses as a replica of --source, or of the master
 * the Sentinels name) drives the target sink; filters are the DB select/map from the flags. Runs until
 * SIGINT/SIGTERM (the normal way to end after cut-over: the source stops, the sink flushes, a final
 * ACK reports what the target has; exit 0), or until a fatal error (exit 2). A signal before the full
 * copy was complete ends with ERR_INTERRUPTED and exit 3 (EXIT_INCOMPLETE); a stop or a failure
 * inside the copy prints "the target holds a partial copy: N keys written" after the summary.
 *
 * With --state-dir the run is checkpointed (src/checkpoint): a CheckpointWriter between the sink and
 * the target connection puts every stream write in a transaction with the checkpoint key, a
 * CheckpointSink marks the phases, a StateCopyWriter keeps the copy in --state-dir. A start reads
 * the key (decideResume) and continues by PSYNC from it; a full copy over this migration's own
 * earlier writes first empties the target DBs when they held nothing else (`exclusive`).
 */
import { rmSync } from 'node:fs';
import {
  CheckpointSink,
  CheckpointWriter,
  checkpointPath,
  DEFAULT_CHECKPOINT_KEY,
  decideResume,
  readStateCopy,
  readTargetCheckpoint,
  StateCopyWriter,
  type TargetCheckpoint,
} from '../checkpoint/index.js';
import type { Config } from '../config/index.js';
import { isReconnectable } from '../error-codes.js';
import { ConfigError, EXIT_INCOMPLETE, ReplicantError } from '../errors.js';
import { buildFilters } from '../filters/index.js';
import {
  newRunStats,
  partialCopyLine,
  Progress,
  progressRenderer,
  restartCopyCounts,
  type RunStats,
  summaryText,
} from '../obs/index.js';
import type { Logger } from '../obs/index.js';
import type { KeyMeta, Position, Sink } from '../records.js';
import { PassThroughSink } from '../sinks/pass-through.js';
import { restartSinkCopyCounts, type SinkStats } from '../sinks/types.js';
import { checkRunDbs, sourceEndpoint } from '../precheck/dbs.js';
import { precheckBeforeWrite } from '../precheck/index.js';
import { ReplicaSource } from '../sources/replica.js';
import { TranslatingSink } from '../translate/index.js';
import type { RunContext } from './main.js';
import { prepareTarget } from './restore.js';
import { RetryBudget } from './retry.js';
import { sourceLocator, withSource } from './source.js';
import { startStatus } from './status.js';
import { isClusterSource, runClusterSync } from './sync-cluster.js';
import { endpointOf, openTarget, type Target } from './target.js';

/** The target db of the checkpoint key. */
const KEY_DB = 0;

export async function runSync(ctx: RunContext): Promise<number> {
  const log = ctx.log.child({ component: 'sync' });
  const stats = newRunStats('sync');
  stats.phase = 'connecting';
  // Sentinel: the master it names now (asked again before every reconnect of the replica link).
  const locate = sourceLocator(ctx.config, log);
  let src = await locate();
  const c: Config = ctx.config.sourceSentinel ? withSource(ctx.config, src) : ctx.config;
  // A cluster source: one pipeline per shard (src/cli/sync-cluster.ts).
  if (!ctx.config.sourceSentinel && (await isClusterSource(src))) return runClusterSync(ctx, src);
  if (c.preferReplica)
    throw new ConfigError(
      '--prefer-replica applies to a cluster source only',
      'point --source at the replica you want to read from',
    );
  const filters = buildFilters(c);

  // Everything knowable before writing (memory, eviction, functions, field TTLs…); stops on errors.
  if (!c.skipPrecheck) await precheckBeforeWrite(c, 'sync', log);
  const target = await openTarget(c, log);
  const dst = endpointOf(c.target!, null, null);
  const identity = {
    source: `${src.host}:${src.port}`,
    target: `${dst.host}:${dst.port}`,
    dbs: c.dbs,
    dbMap: c.dbMap,
  };
  const targetDbs = filters.db.targets(range256()).map(([, t]) => t);
  let cw: CheckpointWriter | null = null;
  let copy: StateCopyWriter | null = null;
  // A status port that cannot be opened ends the run here: the target connection must not stay
  // open behind the error (it kept the process alive for ever).
  const status = await startStatus(c, stats, log, () => ({
    checkpoint: cw?.applied ?? null,
    checkpointWriter: cw ? { ...cw.stats } : null,
  })).catch(async (err: unknown) => {
    await target.close();
    throw err;
  });
  let progress: Progress | null = null;
  let timer: NodeJS.Timeout | null = null;
  /** Set once the source runs: a failed run still prints what it did before the error. */
  let refreshStats: (() => void) | null = null;
  /** The current source link (its copyComplete decides what a stop or a failure reports). */
  let current: ReplicaSource | null = null;
  /** The summary was printed already (a stop inside the copy, reported as ERR_INTERRUPTED). */
  let reported = false;
  try {
    // Target DBs exist (ERR_TARGET_DB), before any write; DB counts for FLUSHALL → FLUSHDBs.
    const dbCount = await checkRunDbs(target, c, filters.db, sourceEndpoint(src));
    let resume: Position | null = null;
    let exclusive = c.onConflict === 'report' || c.flushTarget;
    if (c.stateDir && target.caps.clusterEnabled)
      throw new ReplicantError(
        'ERR_CONFIG',
        '--state-dir (checkpoint and resume) does not cover a cluster target yet',
        { hint: 'leave out --state-dir: a run into a cluster starts with a full copy' },
      );
    if (c.stateDir) {
      const dir = c.stateDir;
      copy = new StateCopyWriter(dir, { ...identity, key: DEFAULT_CHECKPOINT_KEY, keyDb: KEY_DB });
      const sc = copy;
      const found = await readKey(target, log);
      const decision = decideResume(found, readStateCopy(dir), identity, c.flushTarget);
      if (decision.ownTarget) exclusive = found?.exclusive === true;
      cw = new CheckpointWriter(await target.openConnection(), {
        key: DEFAULT_CHECKPOINT_KEY,
        db: KEY_DB,
        source: identity.source,
        exclusive,
        connect: () => target.openConnection(),
        onApplied: (cp: TargetCheckpoint) => sc.update(cp),
        log: ctx.log.child({ component: 'checkpoint' }),
      });
      log.info(
        { replid: decision.resume?.replid, offset: decision.resume?.offset, key: found?.phase ?? null },
        decision.ownTarget
          ? `${decision.reason} (the target holds this migration's earlier writes: no conflict check)`
          : decision.reason,
      );
      resume = decision.resume;
      if (!decision.ownTarget) {
        rmSync(checkpointPath(dir), { force: true }); // another run's copy, discarded with its data
        await prepareTarget(target, c, filters.db.targets(range256()), log);
      } else if (resume === null) await emptyOwnTarget(target, cw, targetDbs, exclusive, log);
    } else await prepareTarget(target, c, filters.db.targets(range256()), log);

    const w = cw;
    const writer = target.createSink(log, w ? () => w : undefined);
    writer.setDatabases(dbCount); // known DBs: no wait on a first SELECT; a missing one stops the run
    const sink = new CountingSink(writer, stats, c.skipFunctions);
    // Stream-phase commands made fit for the target's version (relative expirations, missing commands).
    const translated = new TranslatingSink(sink, {
      target: target.caps,
      skipFunctions: c.skipFunctions,
      hashFieldTtl: c.hashFieldTtl,
      skippedKey: (db, key) => writer.isSkippedKey(db, key),
    });
    const head: Sink = w ? new CheckpointSink(translated, w) : translated;
    // A new full copy after a source link lost inside the snapshot: empty what the lost one wrote.
    const recopy = () => emptyOwnTarget(target, w, targetDbs, exclusive, log);
    /** Every full copy this process begins; past the first, counts start again (each key once). */
    const fullSync = (thenEmpty: boolean) => async () => {
      if (++stats.fullCopies > 1) {
        restartCopyCounts(stats);
        const ss = (writer as { stats?: SinkStats }).stats;
        if (ss) restartSinkCopyCounts(ss);
        log.info(
          { copy: stats.fullCopies },
          "a new full copy: key counts start again (its keys replace the earlier copy's)",
        );
      }
      if (thenEmpty) await recopy();
    };
    const makeSource = (from: Position | null, again = false) =>
      new ReplicaSource(head, {
        host: src.host,
        port: src.port,
        username: src.username,
        password: src.password,
        filter: filters.db.identity && filters.keys.length === 0 ? undefined : filters.source,
        heartbeat: { key: c.heartbeatKey },
        // Auto mode: only keys the target can't RESTORE (or too big for one) are decoded into elements.
        rdb: { onUnsupported: c.skipUnsupported ? 'skip' : 'error', ...writer.decoderOptions() },
        spool: {
          ...(c.stateDir ? { dir: c.stateDir } : {}),
          memoryLimitBytes: c.spoolMemory,
          diskLimitBytes: c.spoolLimit,
        },
        ...(from ? { resume: from } : {}),
        // Checkpointed: a source that cannot continue gets a new full copy over our own writes.
        ...(again || (from && w)
          ? { onFullSync: fullSync(true) }
          : from
            ? { requireContinue: true }
            : { onFullSync: fullSync(false) }),
        log: ctx.log.child({ component: 'replica-link' }),
      });
    let source = makeSource(resume);
    /** The position `source` was made to continue from (null: it makes a full copy). */
    let sourceFrom: Position | null = resume;
    current = source;
    const refresh = () => {
      const s = source.status();
      stats.phase = s.phase === 'stopped' ? stats.phase : s.phase;
      stats.rdbBytesRead = s.rdbBytesApplied;
      stats.rdbBytesTotal = s.rdbBytesTotal;
      stats.keysRead = s.keys + s.keysFiltered;
      stats.skipped.filtered = s.keysFiltered;
      stats.commands = s.commands;
      stats.sourceOffset = s.offset;
      stats.ackedOffset = s.ackedOffset;
      stats.receivedOffset = s.receivedOffset;
      stats.lagMs = s.lagMs;
      stats.spoolBytes = s.spoolBytes;
      target.updateStats(sink.inner, stats);
    };
    refreshStats = refresh;
    // Stats are pulled twice a second (not pushed per record): the data path stays free of it.
    timer = setInterval(refresh, 500);
    timer.unref();
    progress = new Progress(progressRenderer(stats), { enabled: !c.noProgress });
    ctx.setProgress(progress);
    progress.start();
    log.info({ source: `${src.host}:${src.port}`, target: target.address }, 'starting live sync');

    const onAbort = () => {
      log.info('stopping: flushing the target and sending a final ACK');
      source.stop().catch(() => {});
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    // A signal during the precheck or the resume decision: stop as soon as the source exists.
    if (ctx.signal.aborted) onAbort();
    /** Where a new source link continues from: what the target acknowledged (null: not resumable). */
    const resumable = (): Position | null => {
      if (w) return w.phase === 'tx' && w.applied?.replid ? toPosition(w.applied) : null;
      // A link lost before the source answered its PSYNC leaves the point it was to continue from.
      return source.acked ?? (source.fullCopyBegun ? null : sourceFrom);
    };
    try {
      // A lost source link in the stream phase is resumed by PSYNC from what the target acknowledged
      // (the sink is flushed first, so nothing sent is sent again). Lost inside the full copy (nothing
      // acknowledged to resume from): a new full copy, which first empties what the lost one wrote
      // (exclusive) — its keys replace, so nothing is doubled. Backoff with jitter between tries.
      let attempt = 0;
      let lastFailure = -1;
      const budget = new RetryBudget({
        maxFullCopies: c.maxFullCopies,
        reconnectTimeoutMs: c.reconnectTimeout,
      });
      /** A source link of this run got as far as a sync: a later loss is not a wrong address. */
      let synced = false;
      for (;;) {
        try {
          await source.run();
          break;
        } catch (err) {
          const code = (err as { code?: string }).code ?? '';
          synced ||= source.link.sync !== null;
          if (ctx.signal.aborted || !isReconnectable(code, 'source')) throw err;
          // Flushed before deciding: the end of a copy may be acknowledged only now.
          await head.flush();
          const from = resumable();
          // Never synced and nothing to continue from (unreachable at the start): the user's to fix.
          if (from === null && !synced) throw err;
          // Skip mode over other keys: a key the lost copy wrote in part would be kept as it is.
          if (from === null && !exclusive && c.onConflict === 'skip')
            throw new ReplicantError(
              'ERR_SOURCE_LOST_IN_COPY',
              `source link lost during the full copy (${(err as Error).message}); with --on-conflict skip over a target that held other keys a new copy would keep the keys the lost one wrote in part`,
              {
                hint: 'start again with --flush-target (the target DBs are emptied and copied again) or --on-conflict overwrite',
                cause: err,
              },
            );
          // A source that keeps failing is not retried for ever (--max-full-copies, --reconnect-timeout).
          const left = budget.lost(err, {
            resumeOffset: from?.offset ?? null,
            copyBegun: source.fullCopyBegun,
          });
          const at = from?.offset ?? -1;
          attempt = at > lastFailure ? 1 : attempt + 1;
          lastFailure = at;
          const delayMs = Math.round(
            Math.min(left, Math.min(30_000, 250 * 2 ** Math.min(attempt, 7)) * (0.5 + Math.random() / 2)),
          );
          log.warn(
            { code, attempt, delayMs, replid: from?.replid ?? null, offset: from?.offset ?? null },
            from
              ? `source link lost (${(err as Error).message}); reconnecting to continue by PSYNC`
              : `source link lost during the full copy (${(err as Error).message}); reconnecting for a new full copy`,
          );
          stats.errors[code] = (stats.errors[code] ?? 0) + 1;
          await sleepUnlessAborted(delayMs, ctx.signal);
          if (ctx.signal.aborted) break;
          // During a failover the Sentinels may not know the new master yet: the next attempt asks again.
          src = await locate().catch(() => src);
          source = from ? makeSource(from) : makeSource(null, true);
          sourceFrom = from;
          current = source;
        }
      }
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
    }
    refresh();
    progress.stop();
    stats.finishedAtMs = Date.now();
    stats.phase = 'stopped';
    const st = source.status();
    process.stderr.write(summaryText(stats, 'sync stopped'));
    copy?.flush();
    if (!source.copyComplete) {
      // Stopped inside the full copy: the target holds part of the source, never an exit 0.
      reported = true;
      process.stderr.write(partialCopyLine(stats));
      throw new ReplicantError(
        'ERR_INTERRUPTED',
        'sync stopped before the full copy was complete: the copy is incomplete',
        {
          hint: w
            ? 'start again with the same --state-dir: the full copy is made again over this one'
            : 'start again with --flush-target (the target DBs are emptied and copied again); with --state-dir a later stop in the stream phase resumes where it stopped',
          exitCode: EXIT_INCOMPLETE,
        },
      );
    }
    const at = w?.applied ?? null;
    if (at)
      log.info(
        { replid: at.replid, offset: at.offset, db: at.db, phase: at.phase },
        at.phase === 'stream'
          ? 'checkpoint on the target: the next start with this --state-dir continues from here'
          : 'stopped inside the full copy: the next start copies again',
      );
    log.info(
      { replid: st.replid, offset: st.offset, ackedOffset: st.ackedOffset, db: st.db },
      'stopped; resume point (replid, acked offset, db)',
    );
    return 0;
  } catch (err) {
    progress?.stop();
    if (refreshStats && !reported) {
      // What reached the target before the error (skipped keys by reason included), then the error.
      refreshStats();
      stats.finishedAtMs = Date.now();
      process.stderr.write(summaryText(stats, 'sync failed'));
      if (current !== null && !current.copyComplete) process.stderr.write(partialCopyLine(stats, err));
    }
    stats.phase = 'failed';
    throw err;
  } finally {
    if (timer) clearInterval(timer);
    ctx.setProgress(null);
    await status?.close();
    await cw?.close();
    // After the writer's close: replies that arrive while it closes still move the checkpoint.
    copy?.flush();
    await target.close();
  }
}

/** The checkpoint key, read on a side connection (the sink's stays untouched). */
async function readKey(target: Target, log: Logger): Promise<TargetCheckpoint | null> {
  const conn = await target.openConnection();
  try {
    const k = await readTargetCheckpoint((argv) => conn.call(argv), DEFAULT_CHECKPOINT_KEY, KEY_DB);
    log.debug({ key: k }, 'checkpoint key read');
    return k;
  } finally {
    await conn.close().catch(() => conn.destroy());
  }
}

/**
 * A full copy over this migration's own earlier writes. `exclusive` (the DBs held nothing else when
 * it began): empty them first, so keys the source deleted meanwhile do not stay. The key's db is
 * emptied in one transaction with the "full copy in progress" marker: a crash in between never
 * leaves a target without its key. Otherwise keys only replace what they find (logged).
 */
async function emptyOwnTarget(
  target: Target,
  w: CheckpointWriter | null,
  dbs: readonly number[],
  exclusive: boolean,
  log: Logger,
): Promise<void> {
  if (!exclusive) {
    log.warn(
      "a new full copy over this migration's earlier writes: the target DBs held other keys when it began, so they are not emptied; keys the source deleted meanwhile may remain (--flush-target empties them)",
    );
    return;
  }
  if (w === null) {
    // Not checkpointed: no key to keep, the DBs are just emptied.
    const flushed = [...(await target.flushDbs(dbs))].filter(([, n]) => n > 0).map(([db]) => db);
    log.warn({ dbs: flushed }, 'a new full copy: emptied the target DBs this migration writes to first');
    return;
  }
  const wanted = new Set(dbs);
  // Only DBs that hold keys (the mapping may name DBs the target does not have).
  const busy = [...(await target.keyspace())].filter(([db, n]) => n > 0 && wanted.has(db)).map(([db]) => db);
  const conn = await target.openConnection();
  try {
    for (const db of busy) {
      if (db === KEY_DB) continue;
      await conn.call(['SELECT', db]);
      await conn.call(['FLUSHDB']);
    }
    await conn.call(['SELECT', KEY_DB]);
    await conn.call(['MULTI']);
    if (wanted.has(KEY_DB)) await conn.call(['FLUSHDB']);
    await conn.call(['SET', DEFAULT_CHECKPOINT_KEY, w.snapshotValue()]);
    await conn.call(['EXEC']);
  } finally {
    await conn.close().catch(() => conn.destroy());
  }
  log.warn({ dbs: busy }, 'a new full copy: emptied the target DBs this migration writes to first');
}

function toPosition(cp: TargetCheckpoint): Position {
  return { replid: cp.replid!, offset: cp.offset!, db: cp.db ?? 0 };
}

function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}

function range256(): number[] {
  return Array.from({ length: 256 }, (_, i) => i);
}

/** Sink pass-through that counts snapshot keys by type and applies --skip-functions. */
export class CountingSink extends PassThroughSink {
  constructor(
    inner: Sink,
    private readonly stats: RunStats,
    private readonly skipFunctions: boolean,
  ) {
    super(inner);
  }
  override keyStart(meta: KeyMeta): void {
    this.stats.keysByType[meta.type]++;
    this.inner.keyStart(meta);
  }
  override functionLibrary(code: Buffer): void {
    if (this.skipFunctions) return;
    this.stats.functions++;
    this.inner.functionLibrary(code);
  }
}
