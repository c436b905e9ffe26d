/**
 * Logging: pino on stderr, a child logger per component (`log.child({ component: 'restore' })`).
 * `--json-logs` writes pino's JSON lines as they are; otherwise a compact formatter of our own turns
 * each line into `12:00:01.234 INFO  restore: message key=value` (no pino-pretty dependency).
 *
 * Rule (docs/style.md): never log values or secrets. Keys are not logged at info level either; URLs
 * go through `redactUrl` before they reach a log line, and every line is masked (registered secrets)
 * and escaped (control bytes) on its way out (terminal.ts).
 */
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config/schema.js';
import { escapeControl, maskSecrets } from './terminal.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level: LogLevel;
  json: boolean;
  /** Where lines go; default process.stderr. */
  stream?: { write(s: string): unknown };
  /** Called before each line is written (the progress line clears itself so they don't mix). */
  beforeWrite?: () => void;
}

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO ',
  40: 'WARN ',
  50: 'ERROR',
  60: 'FATAL',
};

/** pino fields that are not shown as key=value in compact mode. */
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'component']);

export function createLogger(o: LoggerOptions): Logger {
  const out = o.stream ?? process.stderr;
  const before = o.beforeWrite;
  const dest = o.json
    ? {
        write(line: string): void {
          before?.();
          out.write(jsonSafe(maskSecrets(line)));
        },
      }
    : {
        write(line: string): void {
          before?.();
          out.write(compactLine(maskSecrets(line)));
        },
      };
  return pino(
    {
      level: o.level,
      base: undefined, // no pid/hostname on every line: one process, one machine
      timestamp: pino.stdTimeFunctions.epochTime,
      formatters: { level: (_label, number) => ({ level: number }) },
    },
    dest,
  );
}

/** One pino JSON line → one human line. Logs are rare (never per key), so parsing JSON here is fine. */
export function compactLine(json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const t = new Date(typeof rec.time === 'number' ? rec.time : Date.now());
  const hh = String(t.getHours()).padStart(2, '0');
  const mm = String(t.getMinutes()).padStart(2, '0');
  const ss = String(t.getSeconds()).padStart(2, '0');
  const ms = String(t.getMilliseconds()).padStart(3, '0');
  let s = `${hh}:${mm}:${ss}.${ms} ${LEVEL_NAMES[rec.level as number] ?? 'LOG  '} `;
  if (typeof rec.component === 'string') s += `${rec.component}: `;
  s += typeof rec.msg === 'string' ? rec.msg : '';
  for (const [k, v] of Object.entries(rec)) {
    if (HIDDEN.has(k) || v === undefined) continue;
    if (k === 'err' && v && typeof v === 'object') {
      const e = v as { message?: unknown; code?: unknown };
      s += ` err=${JSON.stringify(`${e.code ? `[${String(e.code)}] ` : ''}${String(e.message ?? '')}`)}`;
      continue;
    }
    s += ` ${k}=${typeof v === 'string' && /^[\w.:/@*-]+$/.test(v) ? v : JSON.stringify(v)}`;
  }
  // Messages and values may quote bytes from files or servers: nothing reaches the terminal raw.
  return `${escapeControl(s)}\n`;
}

const JSON_UNSAFE = /[\x00-\x09\x0b-\x1f\x7f\u0080-\u009f]/g;

/**
 * A pino JSON line with DEL and C1 controls (valid raw inside JSON strings, but a terminal may act
 * on them) written as `\u00XX` escapes: still the same JSON, now safe to print.
 */
function jsonSafe(line: string): string {
  return line.replace(JSON_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A logger that drops everything (library callers and tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
