import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { handledBy, subscriptionsOf } from '../../../../../src/shared/infrastructure/messaging/subscription.js';
import type { ModuleInbox } from '../../../../../src/shared/contract/routing.js';
import { defineMessage, type MessageHandler } from '../../../../../src/shared/kernel/index.js';

/**
 * A module's subscriptions are typed against its contract's routes. The `@ts-expect-error` lines
 * are the proof: `npm run typecheck` fails if any of them stops being an error (TS2578).
 */
const ParcelShipped = defineMessage('parcel.shipped.v1', 'event', z.object({ parcelId: z.string() }));
const ParcelLost = defineMessage('parcel.lost.v1', 'event', z.object({ parcelId: z.string() }));
const ShipParcel = defineMessage('shipping.ship-parcel.v1', 'command', z.object({ parcelId: z.string() }));

const inbox = {
  module: 'shipping',
  schema: 'shipping',
  routes: [
    { useCase: 'shipping.notify-customer', messageType: 'parcel.shipped.v1', styles: ['choreography'], key: 'parcelId' },
    { useCase: 'shipping.notify-customer', messageType: 'parcel.lost.v1', styles: ['choreography'], key: 'parcelId' },
    { useCase: 'shipping.ship', messageType: 'shipping.ship-parcel.v1', styles: ['orchestration'], key: 'parcelId' },
  ],
  publishes: ['shipping.parcel-shipped.v1'],
} as const satisfies ModuleInbox;

const seen: string[] = [];
const noted: MessageHandler<{ parcelId: string }> = { handle: async (m) => void seen.push(`${m.type}:${m.payload.parcelId}`) };

describe('subscriptionsOf', () => {
  it('turns one handler per route into the subscriptions, with the styles the contract gives', () => {
    const subscriptions = subscriptionsOf(inbox, {
      'shipping.notify-customer': { 'parcel.shipped.v1': handledBy(ParcelShipped, noted), 'parcel.lost.v1': handledBy(ParcelLost, noted) },
      'shipping.ship': { 'shipping.ship-parcel.v1': handledBy(ShipParcel, noted) },
    });

    expect(subscriptions.map((s) => [s.useCase, s.message.type, s.styles])).toEqual([
      ['shipping.notify-customer', 'parcel.shipped.v1', ['choreography']],
      ['shipping.notify-customer', 'parcel.lost.v1', ['choreography']],
      ['shipping.ship', 'shipping.ship-parcel.v1', ['orchestration']],
    ]);
  });

  it('refuses at compile time a missing handler, an extra one, and a handler of another message', () => {
    const missingRoute = () =>
      subscriptionsOf(inbox, {
        // @ts-expect-error -- 'parcel.lost.v1' is routed to this use case but has no handler
        'shipping.notify-customer': { 'parcel.shipped.v1': handledBy(ParcelShipped, noted) },
        'shipping.ship': { 'shipping.ship-parcel.v1': handledBy(ShipParcel, noted) },
      });
    const missingUseCase = () =>
      // @ts-expect-error -- the use case 'shipping.ship' has no handlers
      subscriptionsOf(inbox, {
        'shipping.notify-customer': {
          'parcel.shipped.v1': handledBy(ParcelShipped, noted),
          'parcel.lost.v1': handledBy(ParcelLost, noted),
        },
      });
    const extraRoute = () =>
      subscriptionsOf(inbox, {
        'shipping.notify-customer': {
          'parcel.shipped.v1': handledBy(ParcelShipped, noted),
          'parcel.lost.v1': handledBy(ParcelLost, noted),
        },
        // @ts-expect-error -- 'parcel.shipped.v1' is not routed to 'shipping.ship'
        'shipping.ship': { 'shipping.ship-parcel.v1': handledBy(ShipParcel, noted), 'parcel.shipped.v1': handledBy(ParcelShipped, noted) },
      });
    const wrongMessage = () =>
      subscriptionsOf(inbox, {
        'shipping.notify-customer': {
          'parcel.shipped.v1': handledBy(ParcelShipped, noted),
          // @ts-expect-error -- the handler of 'parcel.lost.v1' validates 'parcel.shipped.v1'
          'parcel.lost.v1': handledBy(ParcelShipped, noted),
        },
        'shipping.ship': { 'shipping.ship-parcel.v1': handledBy(ShipParcel, noted) },
      });
    const widenedInbox = () =>
      // @ts-expect-error -- an inbox typed ModuleInbox has no literal routes to check against
      subscriptionsOf(inbox as ModuleInbox, {});

    // The typed-away mistakes still fail at startup, naming the route.
    expect(missingRoute).toThrow('module shipping: no handler for shipping.notify-customer <- parcel.lost.v1');
    expect(missingUseCase).toThrow('module shipping: no handler for shipping.ship <- shipping.ship-parcel.v1');
    expect(widenedInbox).toThrow('module shipping: no handler for shipping.notify-customer <- parcel.shipped.v1');
    expect(extraRoute).not.toThrow();
    expect(wrongMessage().map((s) => s.message.type)).toEqual(['parcel.shipped.v1', 'parcel.shipped.v1', 'shipping.ship-parcel.v1']);
  });
});
