import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { testComposition } from '../support/composition.js';
import { cloneDatabasesApart } from '../support/databases.js';
import {
  availableCredit,
  eventually,
  getOrder,
  placeOrder,
  registerCustomer,
  systemsClosedAfterEach,
  TERMINAL,
  waitForStatus,
  type TestSystem,
} from '../support/system.js';

/**
 * A module in a database of its own (ADR 32): the relay carries a message from the producer's
 * outbox to a consumer's inbox in another database with the guarantees of one database: a crash
 * between the consumer's commit and the producer's loses nothing and has no second effect.
 * Here the Order module moves out; the saga's first hop (order.created.v1 → the Customer
 * module's reserve-credit) and its reply both cross databases.
 */
const start = systemsClosedAfterEach(afterEach);
const { inboxes } = testComposition();
const [moved] = inboxes;
const RESERVE = 'customer.reserve-credit';
const consumer = inboxes.find((i) => i.routes.some((r) => r.useCase === RESERVE))!.schema;
const APPROVE = 'order.approve-order';

const clients: pg.Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.end()));
});

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  clients.push(client);
  return client;
}

async function apart(env: Record<string, string> = {}): Promise<{ system: TestSystem; main: pg.Client; movedDb: pg.Client }> {
  const split = await cloneDatabasesApart(moved!, inboxes);
  const system = await start({
    databaseUrl: split.databaseUrl,
    env: { EVENT_BUS: 'memory', SAGA_STYLE: 'choreography', ...split.env, ...env },
    consume: false,
  });
  return { system, main: await connect(split.databaseUrl), movedDb: await connect(split.movedUrl) };
}

describe('a module in a database of its own', () => {
  it('opens one pool per database, not per module', async () => {
    const { system } = await apart();
    expect(system.runtime.databases.databases()).toHaveLength(2);
    const together = await start({ env: { EVENT_BUS: 'memory' }, consume: false });
    expect(together.runtime.databases.databases()).toHaveLength(1);
  });

  it('loses nothing and doubles nothing when the producer commit fails after the consumer committed', async () => {
    const { system, main, movedDb } = await apart();
    // The producer's commit fails once, after the consumer's inbox got its delivery: a trigger
    // refuses the first `relayed_at` mark (a sequence, so the refusal is not rolled back with it).
    await movedDb.query(`
      create sequence public.relay_fault;
      create function public.relay_fails_once() returns trigger language plpgsql as $$
        begin
          if nextval('public.relay_fault') = 1 then raise exception 'injected: the producer lost its commit'; end if;
          return new;
        end $$;
      create trigger relay_fails_once before update of relayed_at on "${moved!.schema}".outbox
        for each row execute function public.relay_fails_once();`);
    const customerId = await registerCustomer(system.app, { amount: 10_000, currency: 'USD' });
    const orderId = await placeOrder(system.app, customerId, { amount: 2_500, currency: 'USD' });

    await expect(system.runtime.relay.drainAll()).rejects.toThrow(/injected: the producer lost its commit/);
    const deliveries = () =>
      main.query<{ status: string }>(`select status from "${consumer}".inbox where use_case = $1 and correlation_id = $2`, [
        RESERVE,
        orderId,
      ]);
    const unrelayed = () =>
      movedDb.query(`select 1 from "${moved!.schema}".outbox where correlation_id = $1 and relayed_at is null`, [orderId]);
    // Between the two commits: the consumer has its delivery, the producer's row is still unrelayed.
    expect((await deliveries()).rows).toEqual([{ status: 'pending' }]);
    expect((await unrelayed()).rowCount).toBe(1);

    // The next pass relays it again: the consumer's inbox keeps one delivery, the row is relayed.
    expect(await system.runtime.relay.drainAll()).toBe(1);
    expect((await deliveries()).rows).toEqual([{ status: 'pending' }]);
    expect((await unrelayed()).rowCount).toBe(0);

    // The saga goes on across the two databases, once.
    expect(await system.runtime.inboxOf(RESERVE).processNextBatch(RESERVE, 16)).toEqual(['done']);
    await system.runtime.relay.drainAll();
    expect(await system.runtime.inboxOf(APPROVE).processNextBatch(APPROVE, 16)).toEqual(['done']);
    expect((await getOrder(system.app, orderId)).status).toBe('APPROVED');
    expect(await availableCredit(system.app, customerId)).toBe(7_500);
    const reservations = await main.query(`select 1 from "${consumer}".credit_reservations where order_id = $1`, [orderId]);
    expect(reservations.rowCount).toBe(1);
  });

  it(
    'is checked where it lives by npm run check:consistency, the hops between the databases by message id',
    { timeout: 60_000 },
    async () => {
      const split = await cloneDatabasesApart(moved!, inboxes);
      const system = await start({
        databaseUrl: split.databaseUrl,
        env: { EVENT_BUS: 'memory', SAGA_STYLE: 'choreography', ...split.env },
      });
      const customerId = await registerCustomer(system.app, { amount: 10_000, currency: 'USD' });
      const orderId = await placeOrder(system.app, customerId, { amount: 2_500, currency: 'USD' });
      await waitForStatus(system.app, orderId, TERMINAL);
      await eventually(async () => ((await system.runtime.relay.drainAll()) === 0 ? true : undefined));
      const run = promisify(execFile);
      const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/dev/cli/check-consistency.ts', '--settled', '--json'], {
        env: { ...process.env, DATABASE_URL: split.databaseUrl, ...split.env },
      });
      const report = JSON.parse(stdout) as { ok: boolean; database: string; checks: Array<{ name: string; ok: boolean }> };
      expect(report.checks.filter((c) => !c.ok)).toEqual([]);
      expect(report.ok).toBe(true);
      // Both databases were read (their URLs, masked).
      expect(report.database.split(', ')).toHaveLength(2);
    },
  );
});
