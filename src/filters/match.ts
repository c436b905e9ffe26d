/**
 * `--match GLOB`: Redis glob semantics (`stringmatchlen` in util.c: `*`, `?`, `[abc]`, `[^a-z]`,
 * `\\x`) on the raw key bytes, so binary keys match the way `SCAN MATCH` would match them.
 * The pattern is compiled once to bytes; matching allocates nothing.
 */
import type { KeyMeta } from '../records.js';

const STAR = 0x2a;
const QUESTION = 0x3f;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const CARET = 0x5e;
const DASH = 0x2d;
const BACKSLASH = 0x5c;

export class KeyMatcher {
  private readonly p: Buffer;
  /** `*` alone matches everything: skip the walk. */
  readonly all: boolean;

  constructor(pattern: string | Buffer) {
    this.p = Buffer.isBuffer(pattern) ? pattern : Buffer.from(pattern, 'utf8');
    this.all = this.p.length === 1 && this.p[0] === STAR;
  }

  key(meta: KeyMeta): KeyMeta | null {
    return this.matches(meta.key) ? meta : null;
  }

  /**
   * Iterative glob walk with one backtrack point (the last `*`): every other token matches exactly
   * one byte, so retrying from the byte after the star's previous end is enough — linear-ish and no
   * recursion on hostile patterns like `*a*a*a*b`.
   */
  matches(s: Buffer): boolean {
    if (this.all) return true;
    const p = this.p;
    let pi = 0;
    let si = 0;
    let starP = -1;
    let starS = 0;
    while (si < s.length) {
      if (pi < p.length && p[pi] === STAR) {
        while (pi < p.length && p[pi] === STAR) pi++;
        if (pi === p.length) return true;
        starP = pi;
        starS = si;
        continue;
      }
      const step = pi < p.length ? this.one(pi, s[si]!) : 0;
      if (step > 0) {
        pi += step;
        si++;
        continue;
      }
      if (starP === -1) return false;
      pi = starP;
      si = ++starS;
    }
    while (pi < p.length && p[pi] === STAR) pi++;
    return pi === p.length;
  }

  /** Does the token at `pi` match byte `c`? Returns the token's length in the pattern, 0 for no match. */
  private one(pi: number, c: number): number {
    const p = this.p;
    const t = p[pi]!;
    if (t === QUESTION) return 1;
    if (t === BACKSLASH && pi + 1 < p.length) return p[pi + 1] === c ? 2 : 0;
    if (t !== OPEN) return t === c ? 1 : 0;
    let i = pi + 1;
    const not = p[i] === CARET;
    if (not) i++;
    let hit = false;
    // Like Redis, an unterminated class runs to the end of the pattern.
    while (i < p.length && p[i] !== CLOSE) {
      if (p[i] === BACKSLASH && i + 1 < p.length) {
        if (p[i + 1] === c) hit = true;
        i += 2;
      } else if (i + 2 < p.length && p[i + 1] === DASH && p[i + 2] !== CLOSE) {
        const lo = Math.min(p[i]!, p[i + 2]!);
        const hi = Math.max(p[i]!, p[i + 2]!);
        if (c >= lo && c <= hi) hit = true;
        i += 3;
      } else {
        if (p[i] === c) hit = true;
        i++;
      }
    }
    if (not) hit = !hit;
    return hit ? i + (i < p.length ? 1 : 0) - pi : 0;
  }
}
