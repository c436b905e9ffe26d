/**
 * A progress line on stderr. On a TTY: one line rewritten in place a few times a second. Elsewhere
 * (CI logs, files): a plain line every few seconds, so logs stay readable. The text comes from a
 * render callback that reads plain stats objects; nothing is computed between renders.
 */

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/**
 * Characters the TTY line may take: one less than the terminal's width (no wrap), or 79 when the
 * terminal reports no width (a pty without a size says 0 columns: that cut the line to 20).
 */
export function lineWidth(columns: number | undefined): number {
  return columns !== undefined && Number.isFinite(columns) && columns > 1 ? Math.max(20, columns - 1) : 79;
}

export interface ProgressOptions {
  enabled: boolean;
  stream?: ProgressStream;
  /** Render period; default 250 ms on a TTY, 5 s otherwise. */
  intervalMs?: number;
}

export class Progress {
  private readonly out: ProgressStream;
  private readonly tty: boolean;
  private readonly enabled: boolean;
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | null = null;
  /** A line is currently drawn on the TTY (must be erased before anything else is written). */
  private drawn = false;

  constructor(
    private readonly render: () => string,
    o: ProgressOptions,
  ) {
    this.out = o.stream ?? process.stderr;
    this.tty = this.out.isTTY === true;
    this.enabled = o.enabled;
    this.intervalMs = o.intervalMs ?? (this.tty ? 250 : 5000);
  }

  start(): void {
    if (!this.enabled || this.timer !== null) return;
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    // A progress timer must never keep the process alive on its own.
    this.timer.unref();
  }

  /** Draw now (also used for a last update before the summary). */
  tick(): void {
    if (!this.enabled) return;
    const line = this.render();
    if (this.tty) {
      const width = lineWidth(this.out.columns);
      this.out.write(`\r\x1b[K${line.length > width ? line.slice(0, width) : line}`);
      this.drawn = true;
    } else {
      this.out.write(`${line}\n`);
    }
  }

  /** Erase the TTY line so a log line can be printed cleanly; the next tick redraws it. */
  clear(): void {
    if (this.drawn) {
      this.out.write('\r\x1b[K');
      this.drawn = false;
    }
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.clear();
  }
}
