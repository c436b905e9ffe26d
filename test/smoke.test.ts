import { describe, expect, it } from 'vitest';
import { formatScore } from '../src/records.js';

describe('formatScore', () => {
  it('round-trips doubles and infinities', () => {
    for (const x of [0, -0.5, 1 / 3, 1e300, -1e-300, Number.MAX_VALUE, Number.MIN_VALUE]) {
      expect(Number(formatScore(x))).toBe(x);
    }
    expect(formatScore(Number.POSITIVE_INFINITY)).toBe('+inf');
    expect(formatScore(Number.NEGATIVE_INFINITY)).toBe('-inf');
  });
});
