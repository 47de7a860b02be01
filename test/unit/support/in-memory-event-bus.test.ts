import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InMemoryEventBus } from '../../support/fakes/in-memory-event-bus.js';
import { createMessage, defineMessage, traceparent, uuidv7, type Envelope } from '../../../src/shared/kernel/index.js';

const Pinged = defineMessage('test.pinged.v1', 'event', z.object({ n: z.number().int() }));
const Ponged = defineMessage('test.ponged.v1', 'event', z.object({ n: z.number().int() }));

function ping(n: number, correlationId = uuidv7()): Envelope<{ n: number }> {
  return createMessage(Pinged, { n }, { correlationId, causationId: null, traceparent: traceparent() });
}

describe('InMemoryEventBus', () => {
  it('delivers on a later turn of the event loop, never inside the publisher', async () => {
    const bus = new InMemoryEventBus();
    const seen: number[] = [];
    bus.subscribe(Pinged, async (m) => {
      seen.push(m.payload.n);
    });
    await bus.publish([ping(1)]);
    await Promise.resolve();
    expect(seen).toEqual([]);
    await bus.drain();
    expect(seen).toEqual([1]);
  });

  it('hands each subscriber its own copy that went through JSON', async () => {
    const bus = new InMemoryEventBus();
    const received: Envelope[] = [];
    bus.subscribe(Pinged, async (m) => void received.push(m));
    bus.subscribe('test.pinged.v1', async (m) => void received.push(m));
    const sent = ping(7);
    await bus.publish([sent]);
    await bus.drain();
    expect(received).toHaveLength(2);
    for (const m of received) {
      expect(m).toEqual(sent);
      expect(m).not.toBe(sent);
      expect(m.payload).not.toBe(sent.payload);
    }
  });

  it('records what was published, typed by contract', async () => {
    const bus = new InMemoryEventBus();
    const a = ping(1);
    const b = createMessage(Ponged, { n: 2 }, { correlationId: a.correlationId, causationId: a.id, traceparent: a.traceparent });
    await bus.publish([a, b]);
    expect(bus.published).toEqual([a, b]);
    expect(bus.publishedOf(Ponged).map((m) => m.payload.n)).toEqual([2]);
  });

  it('redelivers a message on request (at-least-once)', async () => {
    const bus = new InMemoryEventBus();
    const ids: string[] = [];
    bus.subscribe(Pinged, async (m) => void ids.push(m.id));
    const sent = ping(1);
    await bus.publish([sent]);
    bus.redeliver(sent.id);
    await bus.drain();
    expect(ids).toEqual([sent.id, sent.id]);
    expect(() => bus.redeliver(uuidv7())).toThrow(/no published message/);
  });

  it('can deliver every message more than once', async () => {
    const bus = new InMemoryEventBus({ deliveriesPerMessage: 3 });
    let calls = 0;
    bus.subscribe(Pinged, async () => void calls++);
    await bus.publish([ping(1), ping(2)]);
    await bus.drain();
    expect(calls).toBe(6);
    expect(() => new InMemoryEventBus({ deliveriesPerMessage: 0 })).toThrow(RangeError);
  });

  it('makes drain reject with the error a subscriber threw, and still serves the other subscribers', async () => {
    const bus = new InMemoryEventBus();
    const boom = new Error('handler exploded');
    let others = 0;
    bus.subscribe(
      Pinged,
      async () => {
        throw boom;
      },
      { name: 'test.failing' },
    );
    bus.subscribe(Pinged, async () => void others++);
    const sent = ping(1);
    await bus.publish([sent]);
    await expect(bus.drain()).rejects.toBe(boom);
    expect(others).toBe(1);
    expect(bus.failures).toEqual([{ subscriber: 'test.failing', message: sent, error: boom }]);
    // Reported once by drain, kept for assertions.
    await bus.drain();
    expect(bus.failures).toHaveLength(1);
  });

  it('reports several failures together', async () => {
    const bus = new InMemoryEventBus();
    bus.subscribe(
      Pinged,
      async (m) => {
        throw new Error(`no ${m.payload.n}`);
      },
      { name: 'test.picky' },
    );
    await bus.publish([ping(1), ping(2)]);
    const error = await bus.drain().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AggregateError);
    expect((error as AggregateError).errors.map((e: Error) => e.message).sort()).toEqual(['no 1', 'no 2']);
    expect((error as AggregateError).message).toMatch(/2 deliveries failed: test\.picky <- test\.pinged\.v1: no \d/);
  });

  it('dead-letters a payload that does not match the contract, with the reason, without calling the handler', async () => {
    const bus = new InMemoryEventBus();
    let calls = 0;
    bus.subscribe(Pinged, async () => void calls++, { name: 'test.validating' });
    const bad = { ...ping(1), payload: { n: 'one' } } as unknown as Envelope;
    await bus.publish([bad]);
    await bus.drain();
    expect(calls).toBe(0);
    expect(bus.deadLetters).toHaveLength(1);
    expect(bus.deadLetters[0]).toMatchObject({ subscriber: 'test.validating', code: 'INVALID_PAYLOAD', message: bad });
    expect(bus.deadLetters[0]!.reason).toMatch(/^test\.pinged\.v1: n: /);
  });

  it('gives a contract subscriber the parsed payload (added fields dropped)', async () => {
    const bus = new InMemoryEventBus();
    const payloads: unknown[] = [];
    bus.subscribe(Pinged, async (m) => void payloads.push(m.payload));
    await bus.publish([{ ...ping(4), payload: { n: 4, addedLater: true } }]);
    await bus.drain();
    expect(payloads).toEqual([{ n: 4 }]);
  });

  it('dead-letters an invalid envelope for every subscriber, also one subscribed by type', async () => {
    const bus = new InMemoryEventBus();
    let calls = 0;
    bus.subscribe('test.pinged.v1', async () => void calls++, { name: 'test.raw' });
    await bus.publish([{ ...ping(1), correlationId: 'order-42' }]);
    await bus.drain();
    expect(calls).toBe(0);
    expect(bus.deadLetters).toEqual([
      expect.objectContaining({ subscriber: 'test.raw', code: 'INVALID_ENVELOPE', reason: 'correlationId must be a UUID' }),
    ]);
  });

  it('waits in drain for the deliveries that deliveries caused', async () => {
    const bus = new InMemoryEventBus();
    const order: string[] = [];
    bus.subscribe(Pinged, async (m) => {
      order.push(`ping ${m.payload.n}`);
      await new Promise((r) => setTimeout(r, 5));
      await bus.publish([
        createMessage(Ponged, { n: m.payload.n }, { correlationId: m.correlationId, causationId: m.id, traceparent: m.traceparent }),
      ]);
    });
    bus.subscribe(Ponged, async (m) => {
      await new Promise((r) => setTimeout(r, 5));
      order.push(`pong ${m.payload.n}`);
    });
    await bus.publish([ping(1)]);
    await bus.drain();
    expect(order).toEqual(['ping 1', 'pong 1']);
  });

  it('stops a drain that never settles', async () => {
    const bus = new InMemoryEventBus({ maxDeliveriesPerDrain: 20 });
    bus.subscribe(Pinged, async (m) => bus.publish([ping(m.payload.n + 1, m.correlationId)]));
    await bus.publish([ping(0)]);
    await expect(bus.drain()).rejects.toThrow(/more than 20 deliveries/);
  });

  it('stops delivering to a subscriber that unsubscribed', async () => {
    const bus = new InMemoryEventBus();
    let calls = 0;
    const unsubscribe = bus.subscribe(Pinged, async () => void calls++);
    await bus.publish([ping(1)]);
    await bus.drain();
    unsubscribe();
    await bus.publish([ping(2)]);
    await bus.drain();
    expect(calls).toBe(1);
  });

  it('refuses a subscription to an unversioned name', () => {
    expect(() => new InMemoryEventBus().subscribe('Pinged', async () => undefined)).toThrow(/not a versioned message type/);
  });
});
