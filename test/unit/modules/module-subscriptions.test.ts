import { describe, expect, it } from 'vitest';
import { ALL_MODULES } from '../../../src/entrypoints/composition/all-modules.js';
import { customerModule } from '../../../src/modules/customer/customer.module.js';
import type { ModuleDefinition } from '../../../src/shared/infrastructure/composition/module-definition.js';
import { assertSubscriptionsMatchInbox } from '../../../src/shared/infrastructure/messaging/subscription.js';
import { SAGA_STYLES, type SagaStyle } from '../../../src/shared/contract/routing.js';
import { testConfig, unqueriedContainer } from '../../support/fakes/module-containers.js';

function subscriptionsOf(definition: ModuleDefinition, style: SagaStyle) {
  return definition.subscriptions(unqueriedContainer(definition, testConfig(style)));
}

const route = (useCase: string, type: string) => `${useCase} <- ${type}`;

describe.each(ALL_MODULES.map((m) => [m.name, m] as const))('the %s module’s subscriptions', (_name, definition) => {
  it.each(SAGA_STYLES)('match its contract inbox under %s', (style) => {
    const subscriptions = subscriptionsOf(definition, style);
    expect(() => assertSubscriptionsMatchInbox(definition.inbox, subscriptions)).not.toThrow();

    const active = subscriptions.filter((s) => s.styles.includes(style)).map((s) => route(s.useCase, s.message.type));
    const declared = definition.inbox.routes.filter((r) => r.styles.includes(style)).map((r) => route(r.useCase, r.messageType));
    expect(active.sort()).toEqual(declared.sort());
    expect(active.length).toBeGreaterThan(0);
  });

  it('validate with the contract of the message they subscribe to', () => {
    for (const s of subscriptionsOf(definition, 'choreography')) {
      const result = s.message.parse({ unexpected: true });
      expect(result.ok, `${s.useCase} <- ${s.message.type}`).toBe(false);
    }
  });
});

describe('a module whose subscriptions differ from its contract', () => {
  it('fails, naming the route that has no handler', () => {
    const subscriptions = subscriptionsOf(customerModule, 'choreography').filter((s) => s.message.type !== 'order.cancelled.v1');
    expect(() => assertSubscriptionsMatchInbox(customerModule.inbox, subscriptions)).toThrow(
      'module customer: subscriptions and contract routes differ. Declared without a handler: customer.release-credit <- order.cancelled.v1 [choreography].',
    );
  });
});
