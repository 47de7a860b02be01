import { describe, expect, it } from 'vitest';
import { applyFaults, profileFaults, seededRandom, TokenBucket } from '../../../../src/dev/ecs-local/faults.js';

describe('the local ECS endpoint’s faults', () => {
  it('has a kind default profile and a fargate profile with cold starts and the account’s rate limits, scaled in time', () => {
    expect(profileFaults('default')).toMatchObject({
      taskStartDelayMs: { min: 0, max: 0 },
      rateLimits: null,
      startFailureRate: 0,
      errors: {},
    });
    expect(profileFaults('fargate')).toMatchObject({
      taskStartDelayMs: { min: 15_000, max: 45_000 },
      rateLimits: { runTaskPerSecond: 20, runTaskBurst: 20, launchesPerSecond: 20, launchBurst: 100 },
    });
    expect(profileFaults('fargate', 10)).toMatchObject({
      taskStartDelayMs: { min: 1_500, max: 4_500 },
      rateLimits: { runTaskPerSecond: 200, runTaskBurst: 20, launchesPerSecond: 200, launchBurst: 100 },
    });
  });

  it('applies a partial change, a single start delay as a range, and removes an operation’s error set to null', () => {
    const withError = applyFaults(profileFaults('default'), { taskStartDelayMs: 250, errors: { RunTask: { type: 'hang', rate: 0.5 } } });
    expect(withError.taskStartDelayMs).toEqual({ min: 250, max: 250 });
    expect(withError.errors).toEqual({ RunTask: { type: 'hang', rate: 0.5 } });
    expect(applyFaults(withError, { errors: { RunTask: null } }).errors).toEqual({});
    expect(() => applyFaults(withError, { errors: { RunTask: { type: 'Nope', rate: 1 } } })).toThrow(/errors\.RunTask\.type/);
    expect(() => applyFaults(withError, { taskStartDelayMs: { min: 5, max: 1 } })).toThrow(/min must not exceed max/);
    expect(() => applyFaults(withError, { throttleRate: 2 })).toThrow(/throttleRate/);
  });

  it('draws the same numbers from the same seed', () => {
    const a = seededRandom(7);
    const b = seededRandom(7);
    const drawn = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(drawn);
    for (const x of drawn) expect(x >= 0 && x < 1).toBe(true);
  });

  it('refills a token bucket continuously up to its size', () => {
    let now = 0;
    const bucket = new TokenBucket(20, 100, () => now);
    expect(bucket.take(100)).toBe(true);
    expect(bucket.take(1)).toBe(false);
    now += 500;
    expect(bucket.take(10)).toBe(true);
    expect(bucket.take(1)).toBe(false);
    now += 60_000;
    expect(bucket.take(101)).toBe(false);
    expect(bucket.take(100)).toBe(true);
  });
});
