import { describe, expect, it } from 'vitest';
import { DeferredEcsTransport } from '../../../src/entrypoints/composition/deferred-ecs-transport.js';
import type { EcsTransport } from '../../../src/shared/infrastructure/messaging/ecs/ecs-transport.js';
import type { Delivery } from '../../../src/shared/infrastructure/messaging/subscription.js';

/** What the stand-in transport was asked to do, in order. */
type Call = readonly [string, ...unknown[]];

function standIn(calls: Call[]): EcsTransport {
  const transport = {
    name: 'ecs',
    relaunch: async (useCase: string) => void calls.push(['relaunch', useCase]),
    startConsumers: async () => void calls.push(['startConsumers']),
    signal: async (deliveries: readonly Delivery[], options?: unknown) => void calls.push(['signal', deliveries, options]),
    ping: async () => void calls.push(['ping']),
    maintain: async (schemas: readonly string[]) => {
      calls.push(['maintain', schemas]);
      return ['customer.reserve-credit'];
    },
    close: async () => void calls.push(['close']),
  };
  // The stand-in has every member the deferred transport uses; the SDK client and pool stay out of a unit test.
  return transport as unknown as EcsTransport;
}

describe('DeferredEcsTransport', () => {
  const delivery: Delivery = { useCase: 'customer.reserve-credit', messageId: '01a217bd-4a94-717b-8065-a430e3e8be76' };

  it('loads nothing until used, and closes nothing it never loaded', async () => {
    let loads = 0;
    const transport = new DeferredEcsTransport(async () => {
      loads += 1;
      return standIn([]);
    });
    expect(transport.name).toBe('ecs');
    await transport.close();
    expect(loads).toBe(0);
  });

  it('loads once on first use and forwards every call to the loaded transport', async () => {
    const calls: Call[] = [];
    let loads = 0;
    const transport = new DeferredEcsTransport(async () => {
      loads += 1;
      return standIn(calls);
    });
    await Promise.all([transport.signal([delivery], { redelivery: true }), transport.relaunch('customer.reserve-credit')]);
    expect(await transport.maintain(['customers'])).toEqual(['customer.reserve-credit']);
    await transport.ping();
    await transport.close();
    expect(loads).toBe(1);
    expect(calls).toEqual([
      ['signal', [delivery], { redelivery: true }],
      ['relaunch', 'customer.reserve-credit'],
      ['maintain', ['customers']],
      ['ping'],
      ['close'],
    ]);
  });

  it('tries a failed load again on the next call', async () => {
    const calls: Call[] = [];
    let loads = 0;
    const transport = new DeferredEcsTransport(async () => {
      loads += 1;
      if (loads === 1) throw new Error('cannot load the driver');
      return standIn(calls);
    });
    await expect(transport.signal([delivery])).rejects.toThrow('cannot load the driver');
    await transport.signal([delivery]);
    expect(loads).toBe(2);
    expect(calls).toEqual([['signal', [delivery], undefined]]);
  });
});
