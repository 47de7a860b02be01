import { afterEach, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../src/shared/kernel/index.js';
import { placeOrder, registerCustomer, sql, systemsClosedAfterEach, waitForStatus, type TestSystem } from '../support/system.js';

const start = systemsClosedAfterEach(afterEach);
const usd = (amount: number) => ({ amount, currency: 'USD' });

interface Report {
  sagas: Array<{
    saga: string;
    currentVersion: number;
    versions: Array<{
      version: number;
      handled: boolean;
      current: boolean;
      instances: number;
      movable: number;
      states: Array<{ state: string; instances: number; movable: boolean }>;
    }>;
  }>;
}

async function versions(system: TestSystem): Promise<Report> {
  const res = await system.app.inject({ method: 'GET', url: '/admin/saga-versions' });
  expect(res.statusCode).toBe(200);
  return res.json() as Report;
}

/** Instances written as a release with other definitions would have (only the version and state matter here). */
async function insertInstances(system: TestSystem, definitionVersion: number, state: string, n: number): Promise<void> {
  for (let i = 0; i < n; i += 1) {
    await sql(
      system,
      `insert into ordering.saga_instances (id, type, state, deadline_at, version, definition_version, created_at, updated_at)
       values (?, 'place-order', ?, now(), 1, ?, now(), now())`,
      [uuidv7(), state, definitionVersion],
    );
  }
}

describe('saga definition versions (ADR 37)', () => {
  it('records the version each instance started under and shows the instances by version and state', { timeout: 30_000 }, async () => {
    const system = await start({ env: { SAGA_STYLE: 'orchestration', EVENT_BUS: 'memory' } });
    const customer = await registerCustomer(system.app, usd(1_000));
    const approved = await placeOrder(system.app, customer, usd(600));
    await waitForStatus(system.app, approved, ['APPROVED']);
    const rejected = await placeOrder(system.app, customer, usd(600));
    await waitForStatus(system.app, rejected, ['REJECTED']);
    expect(await sql(system, 'select definition_version from ordering.saga_instances where id = ?', [approved])).toEqual([
      { definition_version: 1 },
    ]);
    expect((await versions(system)).sagas).toEqual([
      {
        saga: 'place-order',
        currentVersion: 1,
        versions: [
          {
            version: 1,
            handled: true,
            current: true,
            instances: 2,
            // An approved order can still be cancelled, a rejected saga still compensate a late reservation.
            movable: 2,
            states: [
              { state: 'APPROVED', instances: 1, movable: true },
              { state: 'REJECTED', instances: 1, movable: true },
            ],
          },
        ],
      },
    ]);
    expect(await system.runtime.sagaVersions().refusals()).toEqual([]);
  });

  it('refuses to start over instances of a version this release does not handle, naming it and how many can move', async () => {
    const system = await start({ env: { SAGA_STYLE: 'orchestration', EVENT_BUS: 'memory' }, consume: false });
    await insertInstances(system, 7, 'AWAITING_CREDIT', 2);
    // Drained: a state with no way out under every handled version that knows it.
    await insertInstances(system, 8, 'CANCELLED', 3);
    expect(await system.runtime.sagaVersions().refusals()).toEqual([
      expect.stringMatching(
        /^saga place-order: 2 instance\(s\) started under definition v7 can still move, and this release handles only v1: deploy a release that still handles v7/,
      ),
    ]);
    const report = await versions(system);
    expect(report.sagas[0]?.versions.map((v) => [v.version, v.handled, v.instances, v.movable])).toEqual([
      [1, true, 0, 0],
      [7, false, 2, 2],
      [8, false, 3, 0],
    ]);
  });

  it('answers problem+json when the instances cannot be read', async () => {
    const system = await start({ env: { SAGA_STYLE: 'orchestration', EVENT_BUS: 'memory' }, consume: false });
    await sql(system, 'alter table ordering.saga_instances rename column definition_version to gone');
    const res = await system.app.inject({ method: 'GET', url: '/admin/saga-versions' });
    expect(res.statusCode).toBe(500);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });
});
