/**
 * The default command: live sync. `ReplicaSource` (poses as a replica of --source) drives the target
 * sink; filters are the DB select/map from the flags. Runs until SIGINT/SIGTERM (the normal way to
 * end after cut-over: the source stops, the sink flushes, a final ACK reports what the target has),
 * or until a fatal error (exit 2).
 */
import { readCheckpoint, resumePoint, writeCheckpoint } from '../checkpoint/index.js';
import { ConfigError } from '../errors.js';
import { buildFilters } from '../filters/index.js';
import { newRunStats, Progress, progressRenderer, type RunStats, summaryText } from '../obs/index.js';
import type { CommandRecord, KeyMeta, Position, Sink, ValueChunk } from '../records.js';
import { precheckBeforeWrite } from '../precheck/index.js';
import { ReplicaSource } from '../sources/replica.js';
import { TranslatingSink } from '../translate/index.js';
import type { RunContext } from './main.js';
import { prepareTarget } from './restore.js';
import { startStatus } from './status.js';
import { isClusterSource, runClusterSync } from './sync-cluster.js';
import { endpointOf, openTarget } from './target.js';

export async function runSync(ctx: RunContext): Promise<number> {
  const c = ctx.config;
  const log = ctx.log.child({ component: 'sync' });
  const stats = newRunStats('sync');
  const filters = buildFilters(c);
  const src = endpointOf(c.source!, c.sourceUser, c.sourcePassword);
  // A cluster source: one pipeline per shard (src/cli/sync-cluster.ts).
  if (await isClusterSource(src)) return runClusterSync(ctx, src);
  if (c.preferReplica)
    throw new ConfigError(
      '--prefer-replica applies to a cluster source only',
      'point --source at the replica you want to read from',
    );

  stats.phase = 'connecting';
  // Everything knowable before writing (memory, eviction, functions, field TTLs…); stops on errors.
  if (!c.skipPrecheck) await precheckBeforeWrite(c, 'sync', log);
  const target = await openTarget(c, log);
  const status = await startStatus(c, stats, log);
  let progress: Progress | null = null;
  let timer: NodeJS.Timeout | null = null;
  /** Puts the checkpoint back when a resume was refused before anything was written. */
  let keepCheckpoint: (() => void) | null = null;
  let resumedFrom: Position | null = null;
  try {
    // Resume: a clean checkpoint in --state-dir from the same migration continues by PSYNC (no full
    // copy; the target's keys are this migration's own, so the conflict check does not apply).
    const dst = endpointOf(c.target!, null, null);
    const identity = {
      source: `${src.host}:${src.port}`,
      target: `${dst.host}:${dst.port}`,
      dbs: c.dbs,
      dbMap: c.dbMap,
    };
    const resume = c.stateDir ? resumePoint(readCheckpoint(c.stateDir), identity, c.flushTarget) : null;
    if (resume) {
      log.info(
        { replid: resume.replid, offset: resume.offset, db: resume.db },
        "resuming from the checkpoint in --state-dir (the target holds this migration's earlier writes)",
      );
    } else await prepareTarget(target, c, filters.db.targets(range256()), log);
    if (c.stateDir) {
      const dir = c.stateDir;
      if (resume) keepCheckpoint = () => writeCheckpoint(dir, { ...identity, clean: true, ...resume });
      writeCheckpoint(dir, { ...identity, clean: false, replid: null, offset: null, db: null });
    }
    const writer = target.createSink(log);
    const sink = new CountingSink(writer, stats, c.skipFunctions);
    // Stream-phase commands made fit for the target's version (relative expirations, missing commands).
    const translated = new TranslatingSink(sink, { target: target.caps, skipFunctions: c.skipFunctions });
    const makeSource = (from: typeof resume) =>
      new ReplicaSource(translated, {
        host: src.host,
        port: src.port,
        username: src.username,
        password: src.password,
        filter: filters.db.identity && filters.keys.length === 0 ? undefined : filters.source,
        heartbeat: { key: c.heartbeatKey },
        // Auto mode: only keys the target can't RESTORE (or too big for one) are decoded into elements.
        rdb: { onUnsupported: c.skipUnsupported ? 'skip' : 'error', ...writer.decoderOptions() },
        spool: { ...(c.stateDir ? { dir: c.stateDir } : {}), diskLimitBytes: c.spoolLimit },
        ...(from ? { resume: from, requireContinue: true } : {}),
        log: ctx.log.child({ component: 'replica-link' }),
      });
    let source = makeSource(resume);
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
    try {
      // A lost source link in the stream phase is resumed by PSYNC from what the target acknowledged
      // (the sink is flushed first, so nothing sent is sent again); backoff with jitter between tries.
      let attempt = 0;
      let lastFailure = -1;
      /** Where the current source started: its resume point until the target acknowledges more. */
      let startedFrom: Position | null = null;
      for (;;) {
        try {
          await source.run();
          break;
        } catch (err) {
          const code = (err as { code?: string }).code ?? '';
          if (ctx.signal.aborted || !RECONNECTABLE.has(code) || (source.acked ?? startedFrom) === null)
            throw err;
          await sink.flush();
          const from: Position = (source.acked ?? startedFrom)!;
          startedFrom = from;
          attempt = from.offset > lastFailure ? 1 : attempt + 1;
          lastFailure = from.offset;
          const delayMs = Math.round(
            Math.min(30_000, 250 * 2 ** Math.min(attempt, 7)) * (0.5 + Math.random() / 2),
          );
          log.warn(
            { code, attempt, delayMs, replid: from.replid, offset: from.offset },
            `source link lost (${(err as Error).message}); reconnecting to continue by PSYNC`,
          );
          stats.errors[code] = (stats.errors[code] ?? 0) + 1;
          await sleepUnlessAborted(delayMs, ctx.signal);
          if (ctx.signal.aborted) break;
          source = makeSource({ replid: from.replid, offset: from.offset, db: from.db });
        }
      }
      resumedFrom = startedFrom;
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
    }
    refresh();
    progress.stop();
    stats.finishedAtMs = Date.now();
    stats.phase = 'stopped';
    const st = source.status();
    process.stderr.write(summaryText(stats, 'sync stopped'));
    const acked = source.acked ?? resumedFrom;
    if (c.stateDir && acked) {
      // Clean stop: everything up to `acked` is on the target and nothing after it was sent.
      writeCheckpoint(c.stateDir, {
        ...identity,
        clean: true,
        replid: acked.replid,
        offset: acked.offset,
        db: acked.db,
      });
      log.info(
        { replid: acked.replid, offset: acked.offset, db: acked.db },
        'checkpoint written: the next start with this --state-dir continues from here',
      );
    }
    log.info(
      { replid: st.replid, offset: st.offset, ackedOffset: st.ackedOffset, db: st.db },
      'stopped; resume point (replid, acked offset, db)',
    );
    return 0;
  } catch (err) {
    stats.phase = 'failed';
    progress?.stop();
    if ((err as { code?: string }).code === 'ERR_RESUME_FULLRESYNC') keepCheckpoint?.();
    throw err;
  } finally {
    if (timer) clearInterval(timer);
    ctx.setProgress(null);
    await status?.close();
    await target.close();
  }
}

/** Source failures a reconnect can cure (the link or the server went away, or is still loading). */
const RECONNECTABLE = new Set([
  'ERR_SOURCE_LOST',
  'ERR_SOURCE_CONNECTION_LOST',
  'ERR_SOURCE_CONNECT',
  'ERR_SOURCE_BUSY',
]);

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
export class CountingSink implements Sink {
  constructor(
    readonly inner: Sink,
    private readonly stats: RunStats,
    private readonly skipFunctions: boolean,
  ) {}
  keyStart(meta: KeyMeta): void {
    this.stats.keysByType[meta.type]++;
    this.inner.keyStart(meta);
  }
  keyRaw(chunk: Buffer): void {
    this.inner.keyRaw(chunk);
  }
  keyElements(chunk: ValueChunk): void {
    this.inner.keyElements(chunk);
  }
  keyEnd(): void {
    this.inner.keyEnd();
  }
  keyUpgraded(): void {
    (this.inner as Sink & { keyUpgraded?(): void }).keyUpgraded?.();
  }
  functionLibrary(code: Buffer): void {
    if (this.skipFunctions) return;
    this.stats.functions++;
    this.inner.functionLibrary(code);
  }
  command(rec: CommandRecord): void {
    this.inner.command(rec);
  }
  position(pos: Position): void {
    this.inner.position(pos);
  }
  onAck(cb: (pos: Position) => void): void {
    this.inner.onAck(cb);
  }
  get needsDrain(): boolean {
    return this.inner.needsDrain;
  }
  drain(): Promise<void> {
    return this.inner.drain();
  }
  flush(): Promise<void> {
    return this.inner.flush();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
