import { afterEach, describe, expect, it } from 'vitest';
import { ecsSystemsClosedAfterEach } from '../support/ecs.js';
import { availableCredit, placeOrder, registerCustomer, TERMINAL, waitForStatus, type TestSystem } from '../support/system.js';

/**
 * The launcher (src/shared/infrastructure/messaging/ecs) against the endpoint at its harshest
 * (issue 31, point 5): tasks on FARGATE_SPOT, some of each RunTask's tasks not placed, throttled
 * DescribeTasks and StopTask calls, and Spot interruptions of running tasks mid-batch. Every
 * order still ends, and credit stays consistent. Needs dist/ (`npm run build`).
 */

const startEcs = ecsSystemsClosedAfterEach(afterEach);

interface UseCaseStats {
  useCase: string;
  counts: { pending: number; dead: number };
  launch: { tasks: number } | null;
}

async function useCaseStats(system: TestSystem): Promise<UseCaseStats[]> {
  const res = await system.app.inject({ method: 'GET', url: '/admin/deliveries/stats' });
  if (res.statusCode !== 200) throw new Error(`GET /admin/deliveries/stats: ${res.statusCode} ${res.body}`);
  return (res.json() as { schemas: Array<{ useCases: UseCaseStats[] }> }).schemas.flatMap((s) => s.useCases);
}
// On Spot, and scaling out early, so that one RunTask asks for several tasks.
const SPOT = { ECS_CAPACITY_PROVIDER_STRATEGY: 'FARGATE_SPOT:1', ECS_SCALE_OUT_BACKLOG: '2' };

describe('the launcher on a harsh Fargate', () => {
  it(
    'partial placement, throttled DescribeTasks and StopTask, and Spot interruptions cost time, never an order',
    { timeout: 180_000 },
    async () => {
      const { ecs, system } = await startEcs(SPOT, SPOT);
      const { app } = system;
      const customers = await Promise.all(
        Array.from({ length: 10 }, (_, i) => registerCustomer(app, { amount: 1_000, currency: 'USD' }, `spot${i}`)),
      );
      ecs.resetStats();
      ecs.setFaults({
        partialPlacementRate: 1,
        errors: { DescribeTasks: { type: 'ThrottlingException', rate: 0.5 }, StopTask: { type: 'ThrottlingException', rate: 0.5 } },
      });
      const placing = Promise.all(
        customers.flatMap((c) => [
          placeOrder(app, c, { amount: 600, currency: 'USD' }),
          placeOrder(app, c, { amount: 600, currency: 'USD' }),
        ]),
      );
      // Spot capacity taken back while tasks run: each interruption is certainly met.
      const interrupted: string[] = [];
      for (let round = 0; round < 2; round++) {
        await expect.poll(() => ecs.stats().tasksRunning, { timeout: 30_000, interval: 20 }).toBeGreaterThan(0);
        interrupted.push(...ecs.interruptSpot());
      }
      expect(interrupted.length).toBeGreaterThan(0);
      const orders = await placing;
      const outcomes = await Promise.all(orders.map((id) => waitForStatus(app, id, TERMINAL, 120_000)));
      expect(outcomes.filter((o) => o.status === 'APPROVED')).toHaveLength(10);
      expect(outcomes.filter((o) => o.status === 'REJECTED')).toHaveLength(10);
      for (const c of customers) expect(await availableCredit(app, c)).toBe(400);
      const stats = ecs.stats();
      expect(stats.injectedErrors).toBeGreaterThan(0);
      // Some RunTask placed only part of its tasks: the launcher asked for more than one.
      expect(stats.runTaskFailures).toBeGreaterThan(0);

      // Once the tasks have drained, no share of any lease is held for a task that never started.
      await expect.poll(() => ecs.stats().tasksRunning, { timeout: 30_000, interval: 100 }).toBe(0);
      await expect
        .poll(async () => (await useCaseStats(system)).filter((u) => (u.launch?.tasks ?? 0) > 0).map((u) => u.useCase), {
          timeout: 15_000,
          interval: 200,
        })
        .toEqual([]);
      for (const u of await useCaseStats(system)) expect(u.counts.dead, u.useCase).toBe(0);
    },
  );
});
