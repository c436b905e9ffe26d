/**
 * Number formatting for progress lines, summaries and rdb-inspect tables: fixed units and widths so
 * an updating line doesn't jitter.
 */

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(n: number): string {
  let u = 0;
  while (n >= 1024 && u < BYTE_UNITS.length - 1) {
    n /= 1024;
    u++;
  }
  return u === 0 ? `${Math.round(n)} B` : `${n.toFixed(n < 10 ? 2 : 1)} ${BYTE_UNITS[u]}`;
}

/** 1234567 → "1,234,567" (locale-independent, so tests and logs are stable). */
export function formatCount(n: number): string {
  const s = String(Math.round(n));
  return s.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Seconds → "1:02:03" / "2:03" / "4.5s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export function formatRate(perSecond: number, unit: string): string {
  if (!Number.isFinite(perSecond)) return `? ${unit}/s`;
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)}M ${unit}/s`;
  if (perSecond >= 1e4) return `${(perSecond / 1e3).toFixed(1)}k ${unit}/s`;
  return `${Math.round(perSecond)} ${unit}/s`;
}

/**
 * Rate over a sliding window (~10 s): a running total is sampled on each render, the rate is the
 * slope between the oldest kept sample and now. Holds at most a few dozen samples.
 */
export class RateMeter {
  private readonly times: number[] = [];
  private readonly values: number[] = [];
  constructor(private readonly windowMs = 10_000) {}

  sample(value: number, now = Date.now()): number {
    this.times.push(now);
    this.values.push(value);
    while (this.times.length > 2 && now - this.times[0]! > this.windowMs) {
      this.times.shift();
      this.values.shift();
    }
    const dt = (now - this.times[0]!) / 1000;
    return dt > 0 ? (value - this.values[0]!) / dt : 0;
  }
}

/** A plain text table: first row is the header; numbers right-aligned. */
export function table(rows: readonly (readonly (string | number)[])[], indent = '  '): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? formatCount(c) : c)));
  const widths: number[] = [];
  for (const r of cells) {
    for (let i = 0; i < r.length; i++) widths[i] = Math.max(widths[i] ?? 0, r[i]!.length);
  }
  const numeric = rows[rows.length - 1]?.map((c) => typeof c === 'number') ?? [];
  return cells
    .map(
      (r) =>
        indent +
        r
          .map((c, i) => (numeric[i] && i > 0 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
          .join('  ')
          .trimEnd(),
    )
    .join('\n');
}
