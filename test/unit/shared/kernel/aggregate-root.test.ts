import { describe, expect, it } from 'vitest';
import { AggregateRoot, type DomainEvent } from '../../../../src/shared/kernel/index.js';

type CounterEvent =
  { readonly name: 'Incremented'; readonly occurredAt: Date; readonly by: number } | { readonly name: 'Reset'; readonly occurredAt: Date };

/** A minimal aggregate: the way modules are expected to extend the base class. */
class Counter extends AggregateRoot<CounterEvent> {
  private value = 0;

  private constructor(id: string, version: number) {
    super(id, version);
  }

  static create(id: string): Counter {
    return new Counter(id, 0);
  }

  /** Rebuilt from storage: no events, the persisted version. */
  static restore(id: string, version: number, value: number): Counter {
    const c = new Counter(id, version);
    c.value = value;
    return c;
  }

  get current(): number {
    return this.value;
  }

  increment(by: number, at = new Date()): void {
    this.value += by;
    this.record({ name: 'Incremented', occurredAt: at, by });
  }

  reset(at = new Date()): void {
    this.value = 0;
    this.record({ name: 'Reset', occurredAt: at });
  }

  /** What a repository does after a successful optimistic update. */
  markSaved(): void {
    this.currentVersion += 1;
  }
}

describe('AggregateRoot', () => {
  it('exposes its id and version', () => {
    const c = Counter.restore('c-1', 7, 3);
    expect(c.id).toBe('c-1');
    expect(c.version).toBe(7);
    expect(c.current).toBe(3);
    expect(Counter.create('c-2').version).toBe(0);
  });

  it('starts without events, also when restored', () => {
    expect(Counter.create('c').peekEvents()).toEqual([]);
    expect(Counter.restore('c', 4, 1).pullEvents()).toEqual([]);
  });

  it('records events in order; pullEvents returns them oldest first and clears them', () => {
    const c = Counter.create('c');
    const t1 = new Date('2024-01-01T00:00:00Z');
    const t2 = new Date('2024-01-01T00:00:01Z');
    c.increment(2, t1);
    c.reset(t2);
    c.increment(5, t2);

    const events = c.pullEvents();
    expect(events).toEqual([
      { name: 'Incremented', occurredAt: t1, by: 2 },
      { name: 'Reset', occurredAt: t2 },
      { name: 'Incremented', occurredAt: t2, by: 5 },
    ]);
    expect(c.pullEvents()).toEqual([]);
    expect(c.peekEvents()).toEqual([]);
  });

  it('peekEvents does not clear', () => {
    const c = Counter.create('c');
    c.increment(1);
    expect(c.peekEvents()).toHaveLength(1);
    expect(c.peekEvents()).toHaveLength(1);
    expect(c.pullEvents()).toHaveLength(1);
  });

  it('a pulled batch is not affected by later changes', () => {
    const c = Counter.create('c');
    c.increment(1);
    const first = c.pullEvents();
    c.increment(2);
    c.increment(3);
    expect(first).toHaveLength(1);
    const second = c.pullEvents();
    expect(second.map((e) => (e.name === 'Incremented' ? e.by : 0))).toEqual([2, 3]);
    expect(second).not.toBe(first);
  });

  it('a peeked view taken before pulling does not leak later events', () => {
    const c = Counter.create('c');
    c.increment(1);
    const peeked = c.peekEvents();
    const pulled = c.pullEvents();
    c.increment(2);
    expect(peeked).toEqual(pulled);
    expect(peeked).toHaveLength(1);
  });

  it('keeps events of different instances apart', () => {
    const a = Counter.create('a');
    const b = Counter.create('b');
    a.increment(1);
    expect(b.peekEvents()).toEqual([]);
    expect(a.peekEvents()).toHaveLength(1);
  });

  it('lets the subclass move the version; pulling events does not', () => {
    const c = Counter.restore('c', 1, 0);
    c.increment(1);
    c.pullEvents();
    expect(c.version).toBe(1);
    c.markSaved();
    expect(c.version).toBe(2);
  });

  it('accepts any DomainEvent by default', () => {
    class Plain extends AggregateRoot {
      constructor() {
        super('p', 0);
      }
      touch(): void {
        const e: DomainEvent = { name: 'Touched', occurredAt: new Date(0) };
        this.record(e);
      }
    }
    const p = new Plain();
    p.touch();
    expect(p.pullEvents()).toEqual([{ name: 'Touched', occurredAt: new Date(0) }]);
  });
});
