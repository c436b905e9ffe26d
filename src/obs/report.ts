/**
 * What the progress line and the final summary say, rendered from a {@link RunStats}. Kept apart from
 * Progress (which only draws) so the text is testable without timers or a TTY.
 */
import { formatBytes, formatCount, formatDuration, formatRate, RateMeter, table } from './format.js';
import { elapsedSeconds, keysPassed, type RunStats, VALUE_TYPES } from './stats.js';

/** A render function for Progress: snapshot figures while a snapshot runs, stream figures after. */
export function progressRenderer(s: RunStats): () => string {
  const keyRate = new RateMeter();
  const byteRate = new RateMeter();
  const opRate = new RateMeter();
  return () => {
    const now = Date.now();
    if (s.phase === 'stream') {
      const ops = opRate.sample(s.commands, now);
      const lag = s.lagMs === null ? '?' : formatDuration(s.lagMs / 1000);
      return `stream · lag ${lag} · ${formatRate(ops, 'ops')} · ${formatCount(s.commands)} commands · spool ${formatBytes(s.spoolBytes)}`;
    }
    if (s.phase !== 'snapshot' && s.phase !== 'flushing') return `${s.phase}…`;
    const keys = keysPassed(s);
    const kps = keyRate.sample(keys, now);
    const bps = byteRate.sample(s.rdbBytesRead, now);
    let line = `${s.phase} ${formatBytes(s.rdbBytesRead)}`;
    if (s.rdbBytesTotal !== null && s.rdbBytesTotal > 0) {
      const pct = Math.min(100, (100 * s.rdbBytesRead) / s.rdbBytesTotal);
      line += ` / ${formatBytes(s.rdbBytesTotal)} (${pct.toFixed(1)}%)`;
    }
    line += ` · ${formatCount(keys)} keys`;
    if (s.keysWritten !== null) line += ` (${formatCount(s.keysWritten)} written)`;
    line += ` · ${formatRate(kps, 'keys')}`;
    if (s.rdbBytesTotal !== null && bps > 0) {
      line += ` · ETA ${formatDuration(Math.max(0, s.rdbBytesTotal - s.rdbBytesRead) / bps)}`;
    }
    return line;
  };
}

/** The final summary: keys by type, RESTORE vs rewrite, skipped by reason, duration. */
export function summaryText(s: RunStats, title: string): string {
  const secs = elapsedSeconds(s);
  const keys = keysPassed(s);
  const lines = [`${title} in ${formatDuration(secs)}`];
  const written = s.writesRestore + s.writesRewrite + s.writesSet > 0;
  const rows: (string | number)[][] = [
    written ? ['type', 'keys', 'RESTORE', 'SET/MSET', 'rewritten'] : ['type', 'keys'],
  ];
  for (const t of VALUE_TYPES) {
    if (s.keysByType[t] === 0) continue;
    const w = s.writesByType[t];
    rows.push(written ? [t, s.keysByType[t], w.restore, w.set, w.rewrite] : [t, s.keysByType[t]]);
  }
  rows.push(written ? ['total', keys, s.writesRestore, s.writesSet, s.writesRewrite] : ['total', keys]);
  lines.push(table(rows));
  const extra: (string | number)[][] = [['', 'count']];
  if (s.writesRestore + s.writesRewrite + s.writesSet > 0) {
    extra.push(['written with RESTORE', s.writesRestore]);
    extra.push(['strings written with SET/MSET', s.writesSet]);
    extra.push(['rewritten with commands', s.writesRewrite]);
  }
  for (const [reason, n] of Object.entries(s.skipped).sort())
    if (n > 0) extra.push([`skipped: ${reason}`, n]);
  if (s.functions > 0) extra.push(['function libraries', s.functions]);
  if (s.commands > 0) extra.push(['stream commands', s.commands]);
  if (s.fullCopies > 1) extra.push(["full copies (keys counted from the last one's start)", s.fullCopies]);
  if (extra.length > 1) lines.push(table(extra));
  const rate = secs > 0 ? keys / secs : 0;
  lines.push(
    `  ${formatBytes(s.rdbBytesRead)} read · ${formatRate(rate, 'keys')}${
      secs > 0 && s.rdbBytesRead > 0 ? ` · ${formatBytes(s.rdbBytesRead / secs)}/s` : ''
    }`,
  );
  return `${lines.join('\n')}\n`;
}

/**
 * The line every run that stopped before its copy was complete prints after its summary (#14): how
 * many keys the target acknowledged (or, when the sink does not count, how many were sent). After a
 * failure of the target itself the count is a floor: writes pipelined behind the refused one may
 * have been applied too (a target at maxmemory takes some again once its buffers shrink).
 */
/** The prefix of every code that names a failure of the target (src/error-codes.ts). */
const TARGET_CODES = ['ERR', 'TARGET'].join('_');

export function partialCopyLine(s: RunStats, cause?: unknown): string {
  const n = s.keysWritten ?? keysPassed(s);
  const code = (cause as { code?: unknown } | undefined)?.code;
  // A code of the target family: the target itself failed.
  const floor = typeof code === 'string' && code.startsWith(TARGET_CODES);
  return `the target holds a partial copy: ${n} keys written${
    floor ? ' (at least: writes in flight when the target failed may have been applied too)' : ''
  }\n`;
}
