import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { ALL_INBOXES, ALL_MODULES } from '../../src/entrypoints/composition/all-modules.js';
import { deleteKeysWithPrefix } from '../../src/dev/provisioning/redis.js';
import { THREE_INBOXES, THREE_MODULES } from '../fixtures/composition/all-modules.js';
import { cloneRunDatabase } from '../support/databases.js';
import { placeOrder, registerCustomer, startTestSystem, TERMINAL, waitForStatus, type TestSystem } from '../support/system.js';

/**
 * Connections follow databases, not modules (ADR 32): a process whose modules share one database
 * holds one pool, so its peak connections do not grow with its modules. Measured with the
 * monolith's two modules and with the test tree's third (test/fixtures/modules/shipping), under
 * the same burst (BullMQ workers, relay and HTTP all drawing on the pool at once).
 */
const POOL = 6;
const ORDERS = 240;
const IN_FLIGHT = 24;

const systems: TestSystem[] = [];
afterEach(async () => {
  for (const system of systems.splice(0)) {
    await system.close();
    if (system.config.REDIS_URL) await deleteKeysWithPrefix(system.config.REDIS_URL, system.config.BULLMQ_PREFIX);
  }
});

/** The most connections the system held at once during a burst, sampled every 10 ms on a connection of the test's own. */
async function peakConnectionsOfBurst(composition: {
  modules: typeof ALL_MODULES | typeof THREE_MODULES;
  inboxes: typeof ALL_INBOXES | typeof THREE_INBOXES;
}): Promise<number> {
  const databaseUrl = await cloneRunDatabase();
  const system = await startTestSystem({
    databaseUrl,
    modules: composition.modules,
    inboxes: composition.inboxes,
    migrate: true,
    env: { EVENT_BUS: 'bullmq', SAGA_STYLE: 'choreography', DB_POOL_SIZE: String(POOL), WORKER_CONCURRENCY: '8' },
  });
  systems.push(system);
  const sampler = new pg.Client({ connectionString: databaseUrl, application_name: 'test:sampler' });
  await sampler.connect();
  let peak = 0;
  let sampling = true;
  const samples = (async () => {
    while (sampling) {
      const { rows } = await sampler.query<{ n: number }>(
        `select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name like 'saga%'`,
      );
      peak = Math.max(peak, rows[0]!.n);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  try {
    const customers = await Promise.all(
      Array.from({ length: 12 }, () => registerCustomer(system.app, { amount: 10_000_000, currency: 'USD' })),
    );
    const ids: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < ORDERS) {
          const i = next++;
          ids.push(await placeOrder(system.app, customers[i % customers.length]!, { amount: 100, currency: 'USD' }));
        }
      }),
    );
    for (const id of ids) await waitForStatus(system.app, id, TERMINAL, 60_000);
  } finally {
    sampling = false;
    await samples;
    await sampler.end();
  }
  return peak;
}

describe('peak connections of one process', () => {
  it('do not grow with its modules: two modules and three, one database, one pool', { timeout: 180_000 }, async () => {
    const two = await peakConnectionsOfBurst({ modules: ALL_MODULES, inboxes: ALL_INBOXES });
    const three = await peakConnectionsOfBurst({ modules: THREE_MODULES, inboxes: THREE_INBOXES });
    process.stdout.write(`peak connections (DB_POOL_SIZE=${POOL}): 2 modules ${two}, 3 modules ${three}\n`);
    // One pool per database: never more than DB_POOL_SIZE, whatever the number of modules (a pool
    // per module would allow 2 × and 3 × that); the burst does fill it.
    expect(two).toBeLessThanOrEqual(POOL);
    expect(three).toBeLessThanOrEqual(POOL);
    expect(Math.max(two, three)).toBeGreaterThan(POOL / 2);
  });
});
