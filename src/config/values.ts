/**
 * Value checkers for the flag kinds in schema.ts. Each returns the converted value or a problem
 * string (never throws), so the parser can collect every problem of a command line in one pass.
 */
import { parseRedisUrl, redactUrl, urlCredentials } from '../net/url.js';

export { redactUrl };
import { CONFLICT_MODES, LOG_LEVELS } from './schema.js';

export type Checked<T> = { ok: true; value: T } | { ok: false; problem: string };

const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const bad = (problem: string): Checked<never> => ({ ok: false, problem });

export const MAX_DB = 255;

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** `64mb`, `512k`, `1.5gb`, `1048576` → bytes. Units are binary (Redis config uses the same: 1mb = 1048576). */
export function parseSize(text: string): Checked<number> {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) return bad(`'${text}' is not a size (examples: 1048576, 512kb, 64mb, 1gb)`);
  const n = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(n) || n < 1) return bad(`'${text}' is out of range (1 byte or more)`);
  return ok(n);
}

function parseDb(text: string): number | null {
  if (!/^\d{1,3}$/.test(text)) return null;
  const n = Number(text);
  return n <= MAX_DB ? n : null;
}

/** `0,3,15` → [0, 3, 15] (sorted, unique); each 0–255. */
export function parseDbs(text: string): Checked<number[]> {
  const parts = text.split(',').map((p) => p.trim());
  const out = new Set<number>();
  const wrong: string[] = [];
  for (const p of parts) {
    const n = parseDb(p);
    if (n === null) wrong.push(`'${p}'`);
    else out.add(n);
  }
  if (wrong.length > 0)
    return bad(
      `${wrong.join(', ')} ${wrong.length === 1 ? 'is not a DB number' : 'are not DB numbers'} (0-${MAX_DB})`,
    );
  return ok([...out].sort((a, b) => a - b));
}

/** `3:0,4:1` → [[3,0],[4,1]]: source DB → target DB. A source may appear once; two sources may not share a target. */
export function parseDbMap(text: string): Checked<[number, number][]> {
  const pairs: [number, number][] = [];
  const problems: string[] = [];
  const bySource = new Map<number, number>();
  const byTarget = new Map<number, number>();
  for (const raw of text.split(',')) {
    const p = raw.trim();
    const m = /^([^:]*):([^:]*)$/.exec(p);
    const s = m ? parseDb(m[1]!.trim()) : null;
    const t = m ? parseDb(m[2]!.trim()) : null;
    if (s === null || t === null) {
      problems.push(`'${p}' is not source:target (DB numbers 0-${MAX_DB}, e.g. 3:0)`);
      continue;
    }
    if (bySource.has(s)) {
      problems.push(`source DB ${s} is mapped twice`);
      continue;
    }
    const other = byTarget.get(t);
    if (other !== undefined) {
      problems.push(`source DBs ${other} and ${s} both map to target DB ${t}`);
      continue;
    }
    bySource.set(s, t);
    byTarget.set(t, s);
    pairs.push([s, t]);
  }
  if (problems.length > 0) return bad(problems.join('; '));
  return ok(pairs);
}

export function parsePort(text: string): Checked<number> {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) return bad(`'${text}' is not a port (0-65535)`);
  return ok(Number(text));
}

/**
 * Check of a server URL: scheme, host, port, through src/net's parser. Credentials in the URL are
 * allowed (and never echoed back). `host:port` alone is accepted and gets `redis://`.
 */
export function checkUrl(text: string): Checked<string> {
  let u: URL;
  // Accept host:port for convenience, as redis-cli users type it.
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `redis://${text}`;
  try {
    u = new URL(withScheme);
  } catch {
    return bad(
      `'${redactUrl(text)}' is not a URL (expected redis://host:port${
        /[/?#@]/.test(urlCredentials(text).password ?? '')
          ? '; percent-encode / ? # @ in a password: / is %2F, ? is %3F, # is %23, @ is %40'
          : ''
      })`,
    );
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    return bad(`'${redactUrl(text)}' has scheme ${u.protocol.slice(0, -1)} (expected redis:// or rediss://)`);
  if (u.hostname === '') return bad(`'${redactUrl(text)}' has no host`);
  if (u.pathname !== '' && u.pathname !== '/')
    return bad(`'${redactUrl(text)}' names a DB in its path; use --dbs / --db-map instead`);
  try {
    // The connection layer's own parser: whatever it would refuse later is refused now, with the rest.
    parseRedisUrl(withScheme);
  } catch (e) {
    return bad((e as Error).message);
  }
  return ok(withScheme);
}

export function checkEnum<T extends string>(text: string, allowed: readonly T[]): Checked<T> {
  if ((allowed as readonly string[]).includes(text)) return ok(text as T);
  return bad(`'${text}' is not one of ${allowed.join(', ')}`);
}

export const checkLogLevel = (t: string) => checkEnum(t, LOG_LEVELS);
export const checkConflict = (t: string) => checkEnum(t, CONFLICT_MODES);
export const checkChoice = (t: string, choices: readonly string[]) => checkEnum(t, choices);

/** A whole number ≥ 1 (`--sample 1000`, `--rounds 3`). */
export function parseCount(text: string): Checked<number> {
  if (!/^\s*\d+\s*$/.test(text)) return bad(`'${text}' is not a whole number`);
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) return bad(`'${text}' is out of range (1 or more)`);
  return ok(n);
}

const DURATION_UNITS: Record<string, number> = { ms: 1, '': 1000, s: 1000, m: 60_000, h: 3_600_000 };

/** `500ms`, `2s`, `1.5m`, `1h`, `3` (seconds) → milliseconds; 0 is allowed. */
export function parseDuration(text: string): Checked<number> {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|)\s*$/i.exec(text);
  if (!m) return bad(`'${text}' is not a duration (examples: 500ms, 2s, 5m, 1h; a bare number is seconds)`);
  const n = Math.round(Number(m[1]) * DURATION_UNITS[m[2]!.toLowerCase()]!);
  if (!Number.isSafeInteger(n)) return bad(`'${text}' is out of range`);
  return ok(n);
}

/** `host:port` (a Sentinel address) → { host, port }. IPv6 in brackets: `[::1]:26379`. */
export function checkHostPort(text: string): Checked<{ host: string; port: number }> {
  const m = /^\s*(\[[0-9a-f:.]+\]|[^\s:/]+):(\d{1,5})\s*$/i.exec(text);
  const port = m ? Number(m[2]) : 0;
  if (!m || port < 1 || port > 65535) return bad(`'${text}' is not host:port (example: 10.0.0.5:26379)`);
  return ok({ host: m[1]!.replace(/^\[|\]$/g, ''), port });
}

/** Levenshtein distance, for "did you mean" on misspelled flags and commands (short strings only). */
export function editDistance(a: string, b: string): number {
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** The closest candidate within a small distance, or null. */
export function nearest(word: string, candidates: Iterable<string>): string | null {
  let best: string | null = null;
  // About a third of the word may differ, and one edit in a word of 3-5 letters: `tls` is not a typo
  // of `dbs` (two of its three letters differ).
  let bestD = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}
