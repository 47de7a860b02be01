import { describe, expect, it } from 'vitest';
import { ALL_INBOXES } from '../../../../../src/entrypoints/composition/all-modules.js';
import {
  OutboxCommits,
  OutboxEventBus,
  UndeclaredPublicationError,
} from '../../../../../src/shared/infrastructure/messaging/outbox-event-bus.js';
import type { ModuleDatabase } from '../../../../../src/shared/infrastructure/persistence/module-database.js';
import { z } from 'zod';
import { createMessage, defineMessage, traceparent } from '../../../../../src/shared/kernel/index.js';

/** A module database inside a transaction that keeps what the bus buffers. */
function transactionOf(): { db: ModuleDatabase; buffered: unknown[][] } {
  const buffered: unknown[][] = [];
  const db = {
    schema: 'shipping',
    inTransaction: () => true,
    afterCommit: () => undefined,
    transactionBuffer: (_key: object, create: () => unknown[]) => {
      const rows = create();
      buffered.push(rows);
      return rows;
    },
  } as unknown as ModuleDatabase;
  return { db, buffered };
}

const schema = z.object({});
const Scheduled = defineMessage('shipping.shipment-scheduled.v1', 'event', schema);
const Stolen = defineMessage('billing.invoice-paid.v1', 'event', schema);
const context = { correlationId: '0190f1c2-0000-7000-8000-000000000001', causationId: null, traceparent: traceparent() };

describe('OutboxEventBus', () => {
  it('writes what the module declares it publishes, and refuses anything else before writing a row', async () => {
    const { db, buffered } = transactionOf();
    const bus = new OutboxEventBus(db, 'shipping.api', new OutboxCommits(), {
      module: 'shipping',
      types: new Set([Scheduled.type]),
    });
    await bus.publish([createMessage(Scheduled, {}, context)]);
    expect(buffered.flat()).toHaveLength(1);
    const refused = bus.publish([createMessage(Scheduled, {}, context), createMessage(Stolen, {}, context)]);
    await expect(refused).rejects.toThrow(UndeclaredPublicationError);
    await expect(refused).rejects.toThrow(
      "module shipping may not publish billing.invoice-paid.v1: its contract does not declare it (add it to its inbox's `publishes`",
    );
    expect(buffered.flat()).toHaveLength(1);
  });

  it('every module declares the types its contract defines as events of its own', () => {
    for (const inbox of ALL_INBOXES) {
      expect(inbox.publishes.length, inbox.module).toBeGreaterThan(0);
      for (const type of inbox.publishes) expect(type, inbox.module).toMatch(/^[a-z][a-z0-9-]*\.[a-z][a-z0-9-]*\.v\d+$/);
    }
  });
});
