import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffMs } from '../../../../../src/shared/infrastructure/messaging/backoff.js';

const BASE = 500;
const MAX = 60_000;
const low = () => 0;
const high = () => 1;

describe('backoffMs', () => {
  it('waits between half and all of the base on the first attempt', () => {
    expect(backoffMs(1, BASE, MAX, low)).toBe(250);
    expect(backoffMs(1, BASE, MAX, high)).toBe(500);
  });

  it('doubles with each attempt', () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffMs(n, BASE, MAX, high))).toEqual([500, 1_000, 2_000, 4_000, 8_000]);
    expect([1, 2, 3, 4, 5].map((n) => backoffMs(n, BASE, MAX, low))).toEqual([250, 500, 1_000, 2_000, 4_000]);
  });

  it('is capped at the maximum, also for huge attempt numbers', () => {
    expect(backoffMs(8, BASE, MAX, high)).toBe(MAX);
    expect(backoffMs(8, BASE, MAX, low)).toBe(MAX / 2);
    expect(backoffMs(10_000, BASE, MAX, high)).toBe(MAX);
  });

  it('treats attempt 0 and below as the first', () => {
    expect(backoffMs(0, BASE, MAX, high)).toBe(500);
    expect(backoffMs(-3, BASE, MAX, high)).toBe(500);
  });

  it('spreads retries over [exponential / 2, exponential], in whole milliseconds', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, base, r) => {
          const exponential = Math.min(MAX, base * 2 ** (attempt - 1));
          const delay = backoffMs(attempt, base, MAX, () => r);
          expect(Number.isInteger(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(Math.floor(exponential / 2));
          expect(delay).toBeLessThanOrEqual(Math.ceil(exponential));
        },
      ),
    );
  });

  it('uses jitter: the same attempt gives different delays', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffMs(5, BASE, MAX)));
    expect(delays.size).toBeGreaterThan(10);
    for (const d of delays) expect(d).toBeGreaterThanOrEqual(4_000);
    for (const d of delays) expect(d).toBeLessThanOrEqual(8_000);
  });
});
