import { afterEach, describe, expect, it } from 'vitest';
import { ORDER } from '../../src/modules/order/order.module.js';
import { purgeMessaging } from '../../src/shared/infrastructure/messaging/delivery-sweeper.js';
import type { ModuleDatabase } from '../../src/shared/infrastructure/persistence/module-database.js';
import { uuidv7 } from '../../src/shared/kernel/index.js';
import { registerCustomer, startTestSystem, type TestSystem } from '../support/system.js';

/**
 * Retention: done deliveries, relayed outbox rows, launch attempts, old dead letters and old
 * idempotency keys are purged; what still matters (pending deliveries, unrelayed rows, recent
 * rows) stays. Rows are aged by setting their timestamps in SQL.
 */

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const started: TestSystem[] = [];
afterEach(async () => {
  await Promise.allSettled(started.splice(0).map((s) => s.close()));
});

/** Nothing runs on its own: the test calls the purges. */
async function start(env: Record<string, string> = {}): Promise<TestSystem> {
  const system = await startTestSystem({ consume: false, jobs: false, env: { EVENT_BUS: 'memory', ...env } });
  started.push(system);
  return system;
}

const INBOX_ROWS = {
  'done 2 days ago': { status: 'done', doneAgoMs: 2 * DAY, updatedAgoMs: 2 * DAY },
  'done 2 hours ago': { status: 'done', doneAgoMs: 2 * HOUR, updatedAgoMs: 2 * HOUR },
  'pending for 40 days': { status: 'pending', doneAgoMs: null, updatedAgoMs: 40 * DAY },
  'dead for 31 days': { status: 'dead', doneAgoMs: null, updatedAgoMs: 31 * DAY },
  'dead for 2 days': { status: 'dead', doneAgoMs: null, updatedAgoMs: 2 * DAY },
} as const;

const OUTBOX_ROWS = {
  'relayed 2 days ago': { relayedAgoMs: 2 * DAY },
  'relayed 2 hours ago': { relayedAgoMs: 2 * HOUR },
  'unrelayed for 40 days': { relayedAgoMs: null },
} as const;

const LAUNCH_ATTEMPTS = {
  'launched 2 days ago': 2 * DAY,
  'launched 2 hours ago': 2 * HOUR,
} as const;

type Seeded = Record<'inbox' | 'outbox' | 'launchAttempts', Map<string, string>>;

const ago = "now() - (? * interval '1 millisecond')";

/** Writes one row of each kind into the module's messaging tables; returns their ids by label. */
async function seed(db: ModuleDatabase): Promise<Seeded> {
  const s = `"${db.schema}"`;
  const seeded: Seeded = { inbox: new Map(), outbox: new Map(), launchAttempts: new Map() };
  for (const [label, row] of Object.entries(INBOX_ROWS)) {
    const id = uuidv7();
    await db.exec(
      `insert into ${s}.inbox (use_case, message_id, type, correlation_id, envelope, status, attempts, created_at, updated_at, done_at)
       values ('retention.test', ?, 'test.retention.v1', ?, '{}'::jsonb, ?, 1, now() - interval '40 days', ${ago}, ${row.doneAgoMs === null ? 'null' : ago})`,
      [id, id, row.status, row.updatedAgoMs, ...(row.doneAgoMs === null ? [] : [row.doneAgoMs])],
    );
    seeded.inbox.set(label, id);
  }
  for (const [label, row] of Object.entries(OUTBOX_ROWS)) {
    const id = uuidv7();
    await db.exec(
      `insert into ${s}.outbox (id, type, correlation_id, traceparent, occurred_at, payload, produced_by, created_at, relayed_at)
       values (?, 'test.retention.v1', ?, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', now(), '{}'::jsonb, 'retention.test',
               now() - interval '40 days', ${row.relayedAgoMs === null ? 'null' : ago})`,
      [id, id, ...(row.relayedAgoMs === null ? [] : [row.relayedAgoMs])],
    );
    seeded.outbox.set(label, id);
  }
  for (const [label, agoMs] of Object.entries(LAUNCH_ATTEMPTS)) {
    const id = uuidv7();
    await db.exec(
      `insert into ${s}.launch_attempts (id, use_case, client_token, task_count, status, created_at, updated_at)
       values (?, 'retention.test', ?, 1, 'started', ${ago}, ${ago})`,
      [id, id, agoMs, agoMs],
    );
    seeded.launchAttempts.set(label, id);
  }
  return seeded;
}

/** The labels of the seeded rows still there. */
async function surviving(db: ModuleDatabase, seeded: Seeded): Promise<Record<keyof Seeded, string[]>> {
  const s = `"${db.schema}"`;
  const present = async (table: string, column: string, ids: Map<string, string>) => {
    const rows = await db.query<{ id: string }>(`select ${column} as id from ${s}.${table} where ${column} = any(?::uuid[])`, [
      [...ids.values()],
    ]);
    const found = new Set(rows.map((r) => r.id));
    return [...ids].filter(([, id]) => found.has(id)).map(([label]) => label);
  };
  return {
    inbox: await present('inbox', 'message_id', seeded.inbox),
    outbox: await present('outbox', 'id', seeded.outbox),
    launchAttempts: await present('launch_attempts', 'id', seeded.launchAttempts),
  };
}

async function postOrder(system: TestSystem, customerId: string, key: string) {
  const res = await system.app.inject({
    method: 'POST',
    url: '/orders',
    headers: { 'idempotency-key': key },
    payload: { customerId, total: { amount: 100, currency: 'USD' } },
  });
  expect(res.statusCode).toBe(202);
  return { id: (res.json() as { id: string }).id, replayed: res.headers['idempotent-replayed'] === 'true' };
}

/** Keys are stored per caller: `<principal id>/<key>`; with AUTH_MODE=off every caller is `anonymous`. */
const stored = (key: string) => `anonymous/${key}`;

async function ageIdempotencyKey(system: TestSystem, key: string, agoMs: number): Promise<void> {
  await system.runtime
    .module('order')
    .db.exec(`update ordering.idempotency_keys set created_at = now() - (? * interval '1 millisecond') where key = ?`, [
      agoMs,
      stored(key),
    ]);
}

async function idempotencyKeys(system: TestSystem, keys: string[]): Promise<string[]> {
  const rows = await system.runtime
    .module('order')
    .db.query<{ key: string }>('select key from ordering.idempotency_keys where key = any(?) order by key', [keys.map(stored)]);
  return rows.map((r) => r.key.slice('anonymous/'.length));
}

describe('retention', () => {
  it('purges done deliveries, relayed outbox rows, launch attempts and dead letters past their retention, and keeps the rest', async () => {
    const system = await start();
    for (const { db } of system.runtime.modules) {
      const seeded = await seed(db);
      expect(await purgeMessaging(db, { doneMs: DAY, deadMs: 30 * DAY })).toEqual({
        deliveries: 1,
        deadLetters: 1,
        outbox: 1,
        launchAttempts: 1,
      });
      expect(await surviving(db, seeded), db.schema).toEqual({
        inbox: ['done 2 hours ago', 'pending for 40 days', 'dead for 2 days'],
        outbox: ['relayed 2 hours ago', 'unrelayed for 40 days'],
        launchAttempts: ['launched 2 hours ago'],
      });
      // Purging again finds nothing more.
      expect(await purgeMessaging(db, { doneMs: DAY, deadMs: 30 * DAY })).toEqual({
        deliveries: 0,
        deadLetters: 0,
        outbox: 0,
        launchAttempts: 0,
      });
    }
  });

  it('purges idempotency keys past their retention: a purged key starts a new order, a kept key still replays', async () => {
    const system = await start();
    const customerId = await registerCustomer(system.app, { amount: 10_000, currency: 'USD' });
    const old = await postOrder(system, customerId, 'retention-old');
    const recent = await postOrder(system, customerId, 'retention-recent');
    await ageIdempotencyKey(system, 'retention-old', 2 * DAY);
    await ageIdempotencyKey(system, 'retention-recent', 2 * HOUR);

    expect(await system.runtime.module('order').container.get(ORDER.Idempotency).purgeOlderThan(DAY)).toBe(1);
    expect(await idempotencyKeys(system, ['retention-old', 'retention-recent'])).toEqual(['retention-recent']);

    const again = await postOrder(system, customerId, 'retention-old');
    expect(again.replayed).toBe(false);
    expect(again.id).not.toBe(old.id);
    expect(await postOrder(system, customerId, 'retention-recent')).toEqual({ id: recent.id, replayed: true });
  });

  it('applies the configured retentions when the runtime runs its periodic jobs', async () => {
    const system = await start({ RETENTION_DONE_MS: String(HOUR), RETENTION_DEAD_MS: String(DAY), RETENTION_IDEMPOTENCY_MS: String(HOUR) });
    const seeded = await Promise.all(system.runtime.modules.map(async ({ db }) => ({ db, rows: await seed(db) })));
    const customerId = await registerCustomer(system.app, { amount: 10_000, currency: 'USD' });
    await postOrder(system, customerId, 'retention-2h');
    await postOrder(system, customerId, 'retention-now');
    await ageIdempotencyKey(system, 'retention-2h', 2 * HOUR);

    await system.runtime.runJobsOnce();

    for (const { db, rows } of seeded) {
      expect(await surviving(db, rows), db.schema).toEqual({
        inbox: ['pending for 40 days'],
        outbox: ['unrelayed for 40 days'],
        launchAttempts: [],
      });
    }
    expect(await idempotencyKeys(system, ['retention-2h', 'retention-now'])).toEqual(['retention-now']);
  });
});
