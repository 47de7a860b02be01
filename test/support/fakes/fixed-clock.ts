import type { Clock } from '../../../src/shared/kernel/index.js';

/** A clock that moves only when the test says so. */
export class FixedClock implements Clock {
  private current: number;

  constructor(start: Date | string = '2026-03-01T09:00:00.000Z') {
    this.current = new Date(start).getTime();
    if (Number.isNaN(this.current)) throw new Error(`FixedClock: ${String(start)} is not a date`);
  }

  now(): Date {
    return new Date(this.current);
  }

  set(to: Date | string): void {
    const next = new Date(to).getTime();
    if (Number.isNaN(next)) throw new Error(`FixedClock: ${String(to)} is not a date`);
    this.current = next;
  }

  advance(ms: number): Date {
    this.current += ms;
    return this.now();
  }
}
