/**
 * Stream-phase commands made fit for the target (issue #4 §4): relative expirations from old sources
 * turned absolute when received, and commands the target lacks translated (or refused by name).
 * A pass-through Sink wrapper so it sits between any source and any sink.
 *
 * The per-command rules are in commands.ts. A command that becomes several is sent as one MULTI
 * group (atomic on the target, as the one command was on the source); inside a source MULTI group the
 * translations are spliced in place. Snapshot calls pass through untouched (the sink chooses RESTORE
 * or rewrite per key).
 */
import type { CommandRecord, KeyMeta, Sink } from '../records.js';
import { PassThroughSink } from '../sinks/pass-through.js';
import type { TargetCaps } from '../sinks/types.js';
import { type TranslateContext, translateCommand } from './commands.js';

export { translateCommand, type TranslateContext } from './commands.js';

export interface TranslateOptions {
  /** What the target accepts (from the probe). */
  target: TargetCaps;
  /** Clock for relative → absolute expirations (tests inject it). */
  now?: () => number;
  /** --skip-functions: FUNCTION commands in the stream are dropped. */
  skipFunctions?: boolean;
  /** --hash-field-ttl: what field TTL commands become on a target without them. */
  hashFieldTtl?: TranslateContext['hashFieldTtl'];
  /** The source's version when known (see TranslateContext.sourceVersion). */
  sourceVersion?: number;
  /** skip-key: keys the snapshot skipped (the sink's record of them). */
  skippedKey?: TranslateContext['skippedKey'];
}

export class TranslatingSink extends PassThroughSink {
  private readonly ctx: TranslateContext;
  constructor(
    inner: Sink,
    readonly opts: TranslateOptions,
  ) {
    super(inner);
    this.ctx = {
      target: opts.target,
      now: opts.now ?? Date.now,
      skipFunctions: opts.skipFunctions ?? false,
      hashFieldTtl: opts.hashFieldTtl ?? 'error',
      ...(opts.skippedKey ? { skippedKey: opts.skippedKey } : {}),
      ...(opts.sourceVersion !== undefined ? { sourceVersion: opts.sourceVersion } : {}),
    };
  }
  /**
   * Without a source version from the caller, the snapshot's format tells the one boundary that
   * matters (7.0, see TranslateContext.sourceVersion): RDB 10 came with Redis 7.0, and Valkey forked
   * from 7.2. Exact at that boundary; an empty snapshot leaves it unknown (commands pass as they are).
   */
  override keyStart(meta: KeyMeta): void {
    if (this.opts.sourceVersion === undefined) {
      const floor =
        meta.family === 'valkey' || meta.rdbVersion >= 11 ? 70200 : meta.rdbVersion >= 10 ? 70000 : 50000;
      if (floor > (this.ctx.sourceVersion ?? 0)) this.ctx.sourceVersion = floor;
    }
    this.inner.keyStart(meta);
  }
  override command(rec: CommandRecord): void {
    this.ctx.db = rec.db;
    if (rec.multi !== undefined) {
      const multi = rec.multi.flatMap((argv) => {
        if (
          argv.length > 1 &&
          argv[0]!.length === 6 &&
          argv[0]!.toString('latin1').toLowerCase() === 'select'
        )
          this.ctx.db = Number(argv[1]!.toString('latin1'));
        return translateCommand(argv, this.ctx);
      });
      if (multi.length > 0) this.inner.command({ ...rec, argv: multi[0]!, multi });
      return;
    }
    const out = translateCommand(rec.argv, this.ctx);
    if (out.length === 1 && out[0] === rec.argv) this.inner.command(rec);
    else if (out.length === 1) this.inner.command({ ...rec, argv: out[0]! });
    else if (out.length > 1) this.inner.command({ ...rec, argv: out[0]!, multi: out });
  }
}
