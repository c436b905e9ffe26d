/**
 * How long a live sync keeps reconnecting to a source that keeps failing (#14 point 7). Two bounds,
 * one per source link (a cluster source has one per shard):
 *
 * - `--max-full-copies N` (default 5): full copies the source broke in a row (a truncated or reset
 *   transfer, an `$EOF` mark that never came, bytes that are not an RDB). A copy that completes (the
 *   link reached its stream phase) starts the count again.
 * - `--reconnect-timeout TIME` (default 5m, as long as the target side keeps reconnecting): time
 *   since the first loss without progress — progress is the acknowledged offset moving past where
 *   the last loss left it, or a new full copy beginning (those are counted by the first bound).
 *
 * Over either bound the run stops with ERR_SOURCE_RETRIES_EXHAUSTED carrying the last error's
 * code, message and hint.
 */
import { ReplicantError } from '../errors.js';
import { formatDuration } from '../obs/index.js';

export interface RetryLimits {
  maxFullCopies: number;
  reconnectTimeoutMs: number;
}

/** What the run knows about the link that was just lost. */
export interface Loss {
  /** Where a new link would continue from (null: lost inside the full copy, not resumable). */
  resumeOffset: number | null;
  /** The lost link began a full copy (the source answered with a full resync). */
  copyBegun: boolean;
}

export class RetryBudget {
  private failingSince: number | null = null;
  private lastOffset = -1;
  private copiesLost = 0;

  constructor(private readonly limits: RetryLimits) {}

  /**
   * A source link was lost and would be retried. Throws ERR_SOURCE_RETRIES_EXHAUSTED (wrapping `err`)
   * when a bound is passed; otherwise returns the milliseconds left before the reconnect deadline
   * (the caller's backoff never sleeps past it).
   */
  lost(err: unknown, loss: Loss, now = Date.now()): number {
    const progressed = (loss.resumeOffset !== null && loss.resumeOffset > this.lastOffset) || loss.copyBegun;
    if (loss.resumeOffset !== null) this.lastOffset = Math.max(this.lastOffset, loss.resumeOffset);
    if (this.failingSince === null || progressed) this.failingSince = now;
    if (loss.resumeOffset !== null) this.copiesLost = 0;
    else if (loss.copyBegun) this.copiesLost++;
    if (loss.resumeOffset === null && this.copiesLost >= this.limits.maxFullCopies)
      throw exhausted(
        err,
        `the source broke ${this.copiesLost} full ${this.copiesLost === 1 ? 'copy' : 'copies'} in a row (--max-full-copies ${this.limits.maxFullCopies})`,
        'the source keeps breaking the transfer: check its log, the network, and its client-output-buffer-limit for replicas; --max-full-copies N allows more tries',
      );
    const left = this.failingSince + this.limits.reconnectTimeoutMs - now;
    if (left <= 0)
      throw exhausted(
        err,
        `no progress reconnecting to the source for ${formatDuration((now - this.failingSince) / 1000)} (--reconnect-timeout ${formatDuration(this.limits.reconnectTimeoutMs / 1000)})`,
        'check that the source is up and reachable from here; --reconnect-timeout TIME keeps trying longer',
      );
    return left;
  }
}

function exhausted(err: unknown, why: string, advice: string): ReplicantError {
  const e = err as { code?: unknown; message?: unknown; hint?: unknown };
  const code = typeof e.code === 'string' ? e.code : 'ERR_INTERNAL';
  const msg = typeof e.message === 'string' ? e.message : String(err);
  const hint = typeof e.hint === 'string' && e.hint !== '' ? `${e.hint}; ${advice}` : advice;
  return new ReplicantError('ERR_SOURCE_RETRIES_EXHAUSTED', `${why}; last error [${code}]: ${msg}`, {
    hint,
    cause: err,
  });
}
