/**
 * Prometheus metrics (prom-client), all named `replicant_*`, read from a {@link RunStats} object at
 * scrape time (`collect`), so the data path only bumps plain numbers and pays nothing for metrics.
 */
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { type RunStats, VALUE_TYPES } from './stats.js';

const PHASES = [
  'starting',
  'connecting',
  'waiting-bgsave',
  'snapshot',
  'stream',
  'flushing',
  'done',
  'failed',
  'stopped',
];

/** Counter whose value is copied from a running total (prom-client counters only `inc`). */
function mirrorCounter(
  reg: Registry,
  name: string,
  help: string,
  labelNames: string[],
  fill: (set: (v: number, labels?: Record<string, string>) => void) => void,
): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [reg],
    collect() {
      this.reset();
      fill((v, labels) => (labels ? this.inc(labels, v) : this.inc(v)));
    },
  });
}

function mirrorGauge(
  reg: Registry,
  name: string,
  help: string,
  labelNames: string[],
  fill: (set: (v: number, labels?: Record<string, string>) => void) => void,
): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers: [reg],
    collect() {
      this.reset();
      fill((v, labels) => (labels ? this.set(labels, v) : this.set(v)));
    },
  });
}

export function createMetrics(stats: () => RunStats, opts: { processMetrics?: boolean } = {}): Registry {
  const reg = new Registry();
  if (opts.processMetrics !== false) collectDefaultMetrics({ register: reg, prefix: 'replicant_' });
  mirrorGauge(reg, 'replicant_phase', 'Current phase (1 for the active one)', ['phase'], (set) => {
    const p = stats().phase;
    for (const ph of PHASES) set(ph === p ? 1 : 0, { phase: ph });
  });
  mirrorCounter(reg, 'replicant_rdb_bytes_read_total', 'RDB bytes decoded', [], (set) =>
    set(stats().rdbBytesRead),
  );
  mirrorGauge(reg, 'replicant_rdb_bytes', 'RDB size when known (-1 unknown)', [], (set) =>
    set(stats().rdbBytesTotal ?? -1),
  );
  mirrorCounter(reg, 'replicant_keys_read_total', 'Snapshot keys decoded (before filters)', [], (set) =>
    set(stats().keysRead),
  );
  mirrorCounter(
    reg,
    'replicant_keys_total',
    'Snapshot keys passed to the target, by type',
    ['type'],
    (set) => {
      const s = stats();
      for (const t of VALUE_TYPES) set(s.keysByType[t], { type: t });
    },
  );
  mirrorCounter(
    reg,
    'replicant_keys_skipped_total',
    'Snapshot keys not written, by reason',
    ['reason'],
    (set) => {
      for (const [reason, n] of Object.entries(stats().skipped)) set(n, { reason });
    },
  );
  mirrorCounter(
    reg,
    'replicant_values_written_total',
    'Values written, by path (restore, set: strings by SET/MSET, rewrite: other commands)',
    ['path'],
    (set) => {
      const s = stats();
      set(s.writesRestore, { path: 'restore' });
      set(s.writesRewrite, { path: 'rewrite' });
      set(s.writesSet, { path: 'set' });
    },
  );
  mirrorCounter(
    reg,
    'replicant_values_written_by_type_total',
    'Values written, by type and path (restore, set, rewrite)',
    ['type', 'path'],
    (set) => {
      const s = stats();
      for (const t of VALUE_TYPES) {
        const w = s.writesByType[t];
        set(w.restore, { type: t, path: 'restore' });
        set(w.set, { type: t, path: 'set' });
        set(w.rewrite, { type: t, path: 'rewrite' });
      }
    },
  );
  mirrorCounter(reg, 'replicant_functions_total', 'Function libraries copied', [], (set) =>
    set(stats().functions),
  );
  mirrorCounter(reg, 'replicant_commands_total', 'Replication-stream commands applied', [], (set) =>
    set(stats().commands),
  );
  mirrorGauge(
    reg,
    'replicant_offset',
    'Replication offsets: received from the source, parsed, acknowledged by the target',
    ['kind'],
    (set) => {
      const s = stats();
      set(s.receivedOffset, { kind: 'received' });
      set(s.sourceOffset, { kind: 'parsed' });
      set(s.ackedOffset, { kind: 'acked' });
    },
  );
  mirrorGauge(reg, 'replicant_lag_seconds', 'Now minus the newest heartbeat seen (-1 unknown)', [], (set) => {
    const l = stats().lagMs;
    set(l === null ? -1 : l / 1000);
  });
  mirrorGauge(reg, 'replicant_spool_bytes', 'Bytes received but not yet applied (memory + disk)', [], (set) =>
    set(stats().spoolBytes),
  );
  mirrorCounter(reg, 'replicant_errors_total', 'Errors by code', ['code'], (set) => {
    for (const [code, n] of Object.entries(stats().errors)) set(n, { code });
  });
  return reg;
}
