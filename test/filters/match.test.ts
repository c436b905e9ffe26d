import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyMatcher } from '../../src/filters/index.js';

const m = (p: string, s: string | Buffer) =>
  new KeyMatcher(p).matches(Buffer.isBuffer(s) ? s : Buffer.from(s));

describe('KeyMatcher (Redis glob)', () => {
  it('matches like SCAN MATCH', () => {
    expect(m('*', '')).toBe(true);
    expect(m('user:*', 'user:1')).toBe(true);
    expect(m('user:*', 'users:1')).toBe(false);
    expect(m('h?llo', 'hello')).toBe(true);
    expect(m('h?llo', 'hllo')).toBe(false);
    expect(m('h[ae]llo', 'hallo')).toBe(true);
    expect(m('h[ae]llo', 'hillo')).toBe(false);
    expect(m('h[^e]llo', 'hallo')).toBe(true);
    expect(m('h[^e]llo', 'hello')).toBe(false);
    expect(m('h[a-b]llo', 'hbllo')).toBe(true);
    expect(m('h[b-a]llo', 'hallo')).toBe(true);
    expect(m('a\\*b', 'a*b')).toBe(true);
    expect(m('a\\*b', 'axb')).toBe(false);
    expect(m('*a*a*a*b', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')).toBe(false);
    expect(m('*a*b', 'xaxxb')).toBe(true);
    expect(m('a*', 'b')).toBe(false);
  });

  it('works on binary keys byte by byte', () => {
    expect(m('\u0000*', Buffer.from([0, 0xff, 0xfe]))).toBe(true);
    expect(new KeyMatcher(Buffer.from([0x2a, 0xff])).matches(Buffer.from([1, 2, 0xff]))).toBe(true);
  });

  it('agrees with a regex translation on simple patterns (property)', () => {
    const alpha = fc.constantFrom('a', 'b', '*', '?');
    fc.assert(
      fc.property(
        fc.array(alpha, { maxLength: 8 }),
        fc.array(fc.constantFrom('a', 'b'), { maxLength: 10 }),
        (pp, ss) => {
          const p = pp.join('');
          const s = ss.join('');
          const re = new RegExp(`^${p.replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
          expect(m(p, s)).toBe(re.test(s));
        },
      ),
      { numRuns: 2000 },
    );
  });
});
