/**
 * `replicant restore --rdb FILE --target URL`: RDB file → RdbDecoder → FilterStage → StandaloneSink.
 *
 * Order of checks (cheapest first, nothing written until all pass): the file is readable → the target
 * answers and is a server we can write to (probe) → in `--on-conflict report` mode no target DB that
 * this restore could write to holds keys. "Could write to" is decided from the flags alone (every
 * DB reachable through --dbs/--db-map), so the file is read once, never twice.
 *
 * SIGINT/SIGTERM: stop reading, flush what was sent, print the summary and "the target holds a
 * partial copy: N keys written", then fail with ERR_INTERRUPTED and exit code 3 (EXIT_INCOMPLETE).
 * Any other failure once writing began (a damaged file, a refused write) prints the same summary and
 * partial-copy line before its error (exit 2): a user never meets a half-loaded target unwarned.
 */
import type { Config } from '../config/index.js';
import { EXIT_INCOMPLETE, ReplicantError } from '../errors.js';
import { buildFilters, FilterStage, newFilterStats } from '../filters/index.js';
import {
  countSkip,
  keysPassed,
  newRunStats,
  partialCopyLine,
  Progress,
  progressRenderer,
  type RunStats,
  summaryText,
} from '../obs/index.js';
import type { Logger } from '../obs/index.js';
import type { SkipInfo } from '../rdb/index.js';
import type { KeyMeta } from '../records.js';
import { checkRunDbs } from '../precheck/dbs.js';
import { precheckBeforeWrite } from '../precheck/index.js';
import { readRdbFile, statRdbFile } from '../sources/rdb-file.js';
import type { RunContext } from './main.js';
import { startStatus } from './status.js';
import { escapeKey, openTarget, type Target } from './target.js';

/** Levels at which the summary table is not printed (the log line still carries the numbers). */
const QUIET_LEVELS = new Set(['silent', 'fatal', 'error']);

/** How many existing keys the conflict error names. */
const CONFLICT_SAMPLE = 10;

export async function runRestore(ctx: RunContext): Promise<number> {
  const c = ctx.config;
  const log = ctx.log.child({ component: 'restore' });
  const stats = newRunStats('restore');
  stats.rdbBytesTotal = await statRdbFile(c.rdb!);
  const filters = buildFilters(c);

  stats.phase = 'connecting';
  if (!c.skipPrecheck) await precheckBeforeWrite(c, 'restore', log);
  const target = await openTarget(c, log);
  // Not opened: the target connection is closed before the error (it kept the process alive).
  const status = await startStatus(c, stats, log).catch(async (err: unknown) => {
    await target.close();
    throw err;
  });
  let progress: Progress | null = null;
  /** Set once writing may have begun: a failure then says what the target holds. */
  let writing: { sink: ReturnType<Target['createSink']>; settle: () => void } | null = null;
  try {
    log.info({ target: target.address, server: target.describe() }, 'target ready');
    const dbCount = await checkRunDbs(target, c, filters.db); // target DBs exist (ERR_TARGET_DB), before any write
    await prepareTarget(target, c, filters.db.targets(allDbs()), log);

    const sink = target.createSink(log);
    sink.setDatabases(dbCount); // a DB of the file the target lacks stops the run before its writes
    const fstats = newFilterStats();
    const stage = new FilterStage(sink, {
      filters: filters.keys,
      skipFunctions: c.skipFunctions,
      stats: fstats,
      dropExpired: Date.now, // an expired key is skipped, not counted in the totals by type
    });
    stats.keysByType = fstats.byType; // one object: the stage counts, progress/metrics read
    const visitor = {
      keyStart(m: KeyMeta): void {
        stats.keysRead++;
        stage.keyStart(m);
      },
      keyRaw: (b: Buffer) => stage.keyRaw(b),
      keyElements: stage.keyElements.bind(stage),
      keyEnd: () => stage.keyEnd(),
      keyUpgraded: () => stage.keyUpgraded(),
      functionLibrary: (code: Buffer) => stage.functionLibrary(code),
      skipped(info: SkipInfo): void {
        countSkip(stats, info.kind === 'type' ? 'unsupported-type' : 'unsupported-opcode');
      },
    };

    /** The counts the summary shows, from the sink and the filter stage. */
    const settle = () => {
      target.updateStats(sink, stats);
      stats.skipped.filtered = fstats.keysFiltered;
      if (fstats.keysExpired > 0) stats.skipped.expired = (stats.skipped.expired ?? 0) + fstats.keysExpired;
      if (fstats.functionsSkipped > 0) stats.skipped['function (--skip-functions)'] = fstats.functionsSkipped;
      stats.functions = fstats.functions;
      stats.finishedAtMs = Date.now();
    };
    writing = { sink, settle };
    progress = new Progress(progressRenderer(stats), { enabled: !c.noProgress });
    ctx.setProgress(progress);
    stats.phase = 'snapshot';
    progress.start();
    log.info({ file: c.rdb, bytes: stats.rdbBytesTotal }, 'restoring');
    if (!c.noVerifyCrc)
      log.info('checking the file CRC64 before writing anything (--no-verify-crc skips this)');
    let interrupted: unknown = null;
    try {
      await readRdbFile(c.rdb!, visitor, {
        decoder: {
          onUnsupported: c.skipUnsupported ? 'skip' : 'error',
          // Auto mode: only keys the target can't RESTORE are decoded; dropped keys not at all.
          ...sink.decoderOptions(),
          wantElements: (m: KeyMeta) => stage.wantElements(m),
        },
        flow: sink,
        signal: ctx.signal,
        // A first pass checks the file's CRC64, so a damaged file writes nothing (README: cost).
        verifyCrc: !c.noVerifyCrc,
        onBytes: (n) => {
          stats.rdbBytesRead = n;
          target.updateStats(sink, stats);
        },
      });
    } catch (err) {
      if (!(err instanceof ReplicantError) || err.code !== 'ERR_INTERRUPTED') throw err;
      interrupted = err;
    }
    stats.phase = 'flushing';
    await sink.flush();
    await sink.close();
    settle();
    progress.stop();
    if (interrupted !== null) {
      stats.phase = 'stopped';
      writing = null; // reported here
      process.stderr.write(summaryText(stats, 'restore interrupted'));
      process.stderr.write(partialCopyLine(stats));
      throw new ReplicantError(
        'ERR_INTERRUPTED',
        `restore stopped after ${keysPassed(stats)} keys (${stats.rdbBytesRead} of ${stats.rdbBytesTotal} bytes read): the copy is incomplete`,
        {
          hint: 'run the restore again with --flush-target (the target DBs are emptied, then the whole file is loaded) or --on-conflict overwrite',
          cause: interrupted,
          exitCode: EXIT_INCOMPLETE,
        },
      );
    }
    stats.phase = 'done';
    if (!QUIET_LEVELS.has(c.logLevel)) process.stderr.write(summaryText(stats, 'restored'));
    log.info(summaryFields(stats), 'restore complete');
    return 0;
  } catch (err) {
    if (stats.phase !== 'stopped') stats.phase = 'failed';
    progress?.stop();
    if (writing !== null) {
      // Failed after writing began: what was sent is let reach the target (bounded: the target
      // may be what failed), then the summary and the partial-copy line come before the error.
      await settled(writing.sink.flush(), 10_000);
      writing.settle();
      process.stderr.write(summaryText(stats, 'restore failed'));
      process.stderr.write(partialCopyLine(stats, err));
    }
    throw err;
  } finally {
    ctx.setProgress(null);
    await status?.close();
    await target.close();
  }
}

/** Waits for `p` (its outcome ignored) at most `ms`. */
async function settled(p: Promise<unknown>, ms: number): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => {}), new Promise<void>((r) => (t = setTimeout(r, ms)))]);
  clearTimeout(t);
}

function allDbs(): number[] {
  return Array.from({ length: 256 }, (_, i) => i);
}

function summaryFields(s: RunStats): Record<string, unknown> {
  return {
    keys: keysPassed(s),
    restore: s.writesRestore,
    rewrite: s.writesRewrite,
    set: s.writesSet,
    skipped: s.skipped,
    seconds: ((s.finishedAtMs ?? Date.now()) - s.startedAtMs) / 1000,
  };
}

/**
 * Before the first write: `--flush-target` empties every target DB this run can write to (and says
 * which, with their key counts); then `--on-conflict report` refuses if any of them still holds keys.
 */
export async function prepareTarget(
  target: Target,
  c: Config,
  pairs: [number, number][],
  log: Logger,
): Promise<void> {
  if (c.flushTarget) {
    const flushed = await target.flushDbs(pairs.map(([, t]) => t));
    for (const [db, n] of flushed) log.warn({ db, keys: n }, '--flush-target: emptied target DB');
  }
  if (c.onConflict === 'report') await refuseNonEmpty(target, c, pairs);
}

/**
 * `--on-conflict report`: refuse before writing anything when a target DB this restore may write to
 * already holds keys. The message names up to 10 of them (escaped) and the flags that override.
 */
export async function refuseNonEmpty(target: Target, c: Config, pairs: [number, number][]): Promise<void> {
  const counts = await target.keyspace();
  const reachable = new Set(pairs.map(([, t]) => t));
  const busy = [...counts].filter(([db, n]) => n > 0 && reachable.has(db)).sort((a, b) => a[0] - b[0]);
  if (busy.length === 0) return;
  const names: string[] = [];
  for (const [db] of busy) {
    if (names.length >= CONFLICT_SAMPLE) break;
    for (const k of await target.sampleKeys(db, CONFLICT_SAMPLE - names.length))
      names.push(`${db}:${escapeKey(k)}`);
  }
  const where = busy.map(([db, n]) => `db ${db} (${n} keys)`).join(', ');
  throw new ReplicantError(
    'ERR_TARGET_NOT_EMPTY',
    `target already holds keys in ${where}, e.g. ${names.join(', ')}`,
    {
      hint: `pass --on-conflict overwrite (replace them), --on-conflict skip (keep them) or --flush-target (empty those DBs first)${
        c.dbs === null ? ', or --dbs / --db-map to restore into other DBs' : ''
      }`,
    },
  );
}
