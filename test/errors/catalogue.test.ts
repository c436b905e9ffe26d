/**
 * The error catalogue (src/error-codes.ts) against what uses it: every code in src/ is catalogued, and
 * the README's "Error codes" table lists exactly the catalogued codes. No server needed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { CODES, REPLIES, REPLY_OTHER, REPLY_TEXT_RULES } from '../../src/error-codes.js';

const root = path.resolve(import.meta.dirname, '../..');

/** Codes that are not replicant's but appear in src/ (Node's own error codes, …). */
const NOT_OURS = new Set<string>([]);

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Every ERR_* word in src/ (code, comments and messages alike), with the files naming it. */
function codesInSource(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const f of sourceFiles(path.join(root, 'src'))) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/\bERR_[A-Z0-9_]*[A-Z0-9]\b/g)) {
      const rel = path.relative(root, f);
      const files = found.get(m[0]) ?? [];
      if (!files.includes(rel)) files.push(rel);
      found.set(m[0], files);
    }
  }
  return found;
}

/** The codes named in the rows of the README's "Error codes" table. */
function codesInReadme(): Set<string> {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Error codes\n');
  expect(start, 'README has a "## Error codes" section').toBeGreaterThan(0);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end === -1 ? undefined : end);
  const codes = new Set<string>();
  for (const line of section.split('\n')) {
    if (!line.startsWith('| `')) continue;
    const first = line.split('|')[1]!; // the code column only: meanings may mention other codes
    for (const m of first.matchAll(/`(ERR_[A-Z0-9_]+)`/g)) codes.add(m[1]!);
  }
  return codes;
}

describe('error catalogue', () => {
  test('every code used in src/ is in the catalogue', () => {
    const missing = [...codesInSource()]
      .filter(([c]) => !NOT_OURS.has(c) && !Object.hasOwn(CODES, c))
      .map(([c, files]) => `${c} (${files.join(', ')})`);
    expect(missing, 'add these to CODES in src/error-codes.ts and to the README table').toEqual([]);
  });

  test('no code is built at run time (the check above could not see it)', () => {
    for (const f of sourceFiles(path.join(root, 'src'))) {
      if (f.endsWith(`${path.sep}error-codes.ts`)) continue; // its Record<`ERR_${string}`, …> type
      const text = readFileSync(f, 'utf8');
      expect(/[`'"]ERR_[A-Z0-9_]*(\$\{|['"]\s*\+)/.test(text), path.relative(root, f)).toBe(false);
    }
  });

  test('every catalogued code is used in src/ or names a reply (no stale entries)', () => {
    const used = codesInSource();
    for (const [c, files] of used)
      if (files.every((f) => f === path.join('src', 'error-codes.ts'))) used.delete(c);
    for (const r of [...Object.values(REPLIES), ...REPLY_TEXT_RULES, REPLY_OTHER]) used.set(r.code, []);
    expect(Object.keys(CODES).filter((c) => !used.has(c))).toEqual([]);
  });

  test('the README table lists exactly the catalogued codes', () => {
    const readme = codesInReadme();
    const catalogued = Object.keys(CODES);
    expect(
      catalogued.filter((c) => !readme.has(c)),
      'catalogued, missing from the README table',
    ).toEqual([]);
    expect(
      [...readme].filter((c) => !Object.hasOwn(CODES, c)),
      'in the README table, not catalogued',
    ).toEqual([]);
  });

  test('every entry has a meaning and a hint; every reply prefix names a catalogued code', () => {
    for (const [c, info] of Object.entries(CODES)) {
      expect(info.meaning.length, c).toBeGreaterThan(10);
      expect(info.hint.length, c).toBeGreaterThan(5);
    }
    for (const [p, info] of Object.entries(REPLIES)) {
      expect(Object.hasOwn(CODES, info.code), p).toBe(true);
      expect(info.hint.length, p).toBeGreaterThan(5);
    }
  });
});
