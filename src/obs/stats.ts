/**
 * The plain numbers one run keeps (restore or sync). Components bump fields of this object (no
 * events, no Promise, no allocation on the data path); the progress line, the summary, /status and
 * /metrics all read the same object when they render — design §7 "the same numbers feed everything".
 */
import type { ValueType } from '../records.js';

export type Phase =
  | 'starting'
  | 'connecting'
  | 'waiting-bgsave'
  | 'snapshot'
  | 'stream'
  | 'flushing'
  | 'done'
  | 'failed'
  | 'stopped';

export const VALUE_TYPES: readonly ValueType[] = [
  'string',
  'list',
  'set',
  'zset',
  'hash',
  'stream',
  'module',
];

export interface RunStats {
  command: string;
  phase: Phase;
  startedAtMs: number;
  finishedAtMs: number | null;
  /** RDB bytes consumed by the decoder, and the total when known (file size, `$<len>` transfer). */
  rdbBytesRead: number;
  rdbBytesTotal: number | null;
  /** Keys decoded from the snapshot (before filters). */
  keysRead: number;
  /** Keys handed to the sink, by type. */
  keysByType: Record<ValueType, number>;
  /** Keys the sink has had acknowledged by the target (or null when the sink doesn't say). */
  keysWritten: number | null;
  /** Values written with RESTORE vs rewritten with ordinary commands (from the sink). */
  writesRestore: number;
  writesRewrite: number;
  /** Strings written by SET/MSET (no DUMP payload); not included in writesRewrite. */
  writesSet: number;
  /** The same three paths per type (SET/MSET is strings only). */
  writesByType: Record<ValueType, { restore: number; set: number; rewrite: number }>;
  /** Keys not written, by reason: filtered, expired, unsupported-type, exists-on-target, … */
  skipped: Record<string, number>;
  functions: number;
  /** Replication stream. */
  commands: number;
  sourceOffset: number;
  ackedOffset: number;
  receivedOffset: number;
  lagMs: number | null;
  spoolBytes: number;
  /** Errors by code (fatal ones end the run; others were retried). */
  errors: Record<string, number>;
  /**
   * Full copies begun (0 for a run that continued by partial sync). Past 1, the key and write counts
   * are those of the last copy: a new one replaces what the earlier wrote (see restartCopyCounts).
   */
  fullCopies: number;
}

export function newRunStats(command: string): RunStats {
  return {
    command,
    phase: 'starting',
    startedAtMs: Date.now(),
    finishedAtMs: null,
    rdbBytesRead: 0,
    rdbBytesTotal: null,
    keysRead: 0,
    keysByType: { string: 0, list: 0, set: 0, zset: 0, hash: 0, stream: 0, module: 0 },
    keysWritten: null,
    writesRestore: 0,
    writesRewrite: 0,
    writesSet: 0,
    writesByType: Object.fromEntries(
      VALUE_TYPES.map((t) => [t, { restore: 0, set: 0, rewrite: 0 }]),
    ) as RunStats['writesByType'],
    skipped: {},
    functions: 0,
    commands: 0,
    sourceOffset: 0,
    ackedOffset: 0,
    receivedOffset: 0,
    lagMs: null,
    spoolBytes: 0,
    errors: {},
    fullCopies: 0,
  };
}

/**
 * A new full copy begins: the per-key counts start again (it writes every key once more, replacing
 * the earlier copy's), so the summary counts each key once. Traffic totals and stream commands stay.
 */
export function restartCopyCounts(s: RunStats): void {
  for (const t of VALUE_TYPES) {
    s.keysByType[t] = 0;
    s.writesByType[t] = { restore: 0, set: 0, rewrite: 0 };
  }
  s.keysWritten = s.keysWritten === null ? null : 0;
  s.writesRestore = s.writesRewrite = s.writesSet = 0;
  s.skipped = {};
  s.functions = 0;
}

export function countSkip(s: RunStats, reason: string, n = 1): void {
  s.skipped[reason] = (s.skipped[reason] ?? 0) + n;
}

export function keysPassed(s: RunStats): number {
  let n = 0;
  for (const t of VALUE_TYPES) n += s.keysByType[t];
  return n;
}

export function elapsedSeconds(s: RunStats, now = Date.now()): number {
  return ((s.finishedAtMs ?? now) - s.startedAtMs) / 1000;
}

/** The JSON served at /status (and printed by --json summaries): a copy, safe to serialise. */
export function statusJson(s: RunStats): Record<string, unknown> {
  return {
    ...s,
    elapsedSeconds: elapsedSeconds(s),
    keysPassed: keysPassed(s),
    keysByType: { ...s.keysByType },
    writesByType: Object.fromEntries(Object.entries(s.writesByType).map(([t, w]) => [t, { ...w }])),
    skipped: { ...s.skipped },
    errors: { ...s.errors },
  };
}
