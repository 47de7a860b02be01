import { DescribeTasksCommand, ECSClient, ListTasksCommand } from '@aws-sdk/client-ecs';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkConsistency, inOneDatabase, type ConsistencyReport } from '../../src/dev/cli/consistency/consistency-checks.js';
import type { LocalEcs } from '../../src/dev/ecs-local/index.js';
import { deleteKeysWithPrefix } from '../../src/dev/provisioning/redis.js';
import { taskFamilyOf } from '../../src/shared/infrastructure/messaging/ecs/task-family.js';
import { THREE_INBOXES, THREE_MODULES } from '../fixtures/composition/all-modules.js';
import { shippingModule } from '../fixtures/modules/shipping/shipping.module.js';
import { buildCompositionTasks, type CompositionTasks } from '../support/composition-tasks.js';
import { cloneRunDatabase } from '../support/databases.js';
import { ecsSystemEnv, startTestEcs } from '../support/ecs.js';
import { eventually, placeOrder, registerCustomer, sql, startTestSystem, waitForStatus, type TestSystem } from '../support/system.js';

/**
 * A third module added by the book, in the test tree (test/fixtures/modules/shipping): its own
 * schema and migration (no messaging tables: the platform adds them), a use case reacting to
 * order.approved.v1, a route with its own scope, a consistency check and a metric. It runs end to
 * end on every transport, in both saga styles, composed by a composition root of the test tree
 * (test/fixtures/composition); no platform file knows it (test/architecture/platform-names-no-module.test.ts).
 */
const USD = (amount: number) => ({ amount, currency: 'USD' });
const TRANSPORTS = ['memory', 'bullmq', 'ecs'] as const;
const STYLES = ['choreography', 'orchestration'] as const;
const SCHEDULE = shippingModule.inbox.routes[0]!.useCase;

let tasks: CompositionTasks;
beforeAll(async () => {
  tasks = await buildCompositionTasks(THREE_INBOXES, (m) => `test/fixtures/composition/tasks/${m}/${m}.tasks.ts`);
}, 180_000);
afterAll(() => tasks?.dispose());

interface Started {
  readonly system: TestSystem;
  readonly ecs?: LocalEcs;
}
const started: Started[] = [];
afterEach(async () => {
  for (const { system, ecs } of started.splice(0)) {
    await system.close();
    if (system.config.EVENT_BUS === 'bullmq' && system.config.REDIS_URL)
      await deleteKeysWithPrefix(system.config.REDIS_URL, system.config.BULLMQ_PREFIX);
    await ecs?.close();
  }
});

async function start(transport: (typeof TRANSPORTS)[number], style: (typeof STYLES)[number]): Promise<Started> {
  const databaseUrl = await cloneRunDatabase();
  // The run's template holds the monolith's schemas; the composition migrates the fixture's before anything runs.
  const ecs =
    transport === 'ecs'
      ? await startTestEcs(databaseUrl, { SAGA_STYLE: style }, { taskDefinitionsDir: tasks.taskDefinitionsDir })
      : undefined;
  const env = { ...(ecs ? ecsSystemEnv(ecs.url) : { EVENT_BUS: transport }), SAGA_STYLE: style };
  const system = await startTestSystem({ databaseUrl, env, modules: THREE_MODULES, inboxes: THREE_INBOXES, migrate: true });
  const s = { system, ...(ecs ? { ecs } : {}) };
  started.push(s);
  return s;
}

async function settledReport(system: TestSystem): Promise<ConsistencyReport> {
  return eventually(
    async () => {
      const client = new pg.Client({ connectionString: system.config.DATABASE_URL });
      await client.connect();
      try {
        const report = await checkConsistency(inOneDatabase(client, THREE_MODULES, THREE_INBOXES), { mode: 'settled' });
        return report.checks.every((c) => c.kind !== 'progress' || c.ok) ? report : undefined;
      } finally {
        await client.end();
      }
    },
    { timeoutMs: 30_000, what: 'the three modules to settle' },
  );
}

describe.each(STYLES.flatMap((style) => TRANSPORTS.map((transport) => ({ style, transport }))))(
  'a third module from the test tree ($style over $transport)',
  ({ style, transport }) => {
    it(
      'schedules the shipment of an approved order only, with every invariant of the three modules holding',
      { timeout: 90_000 },
      async () => {
        const { system, ecs } = await start(transport, style);
        const { app } = system;
        const customer = await registerCustomer(app, USD(10_000));
        const approved = await placeOrder(app, customer, USD(6_000));
        expect((await waitForStatus(app, approved, ['APPROVED', 'REJECTED'], 30_000)).status).toBe('APPROVED');
        const rejected = await placeOrder(app, customer, USD(6_000));
        expect((await waitForStatus(app, rejected, ['APPROVED', 'REJECTED'], 30_000)).status).toBe('REJECTED');

        const shipment = await eventually(
          async () => {
            const res = await app.inject({ method: 'GET', url: `/shipments/${approved}` });
            return res.statusCode === 200 ? res.json<{ orderId: string; status: string }>() : undefined;
          },
          { timeoutMs: 30_000, what: 'the shipment of the approved order' },
        );
        expect(shipment).toMatchObject({ orderId: approved, status: 'SCHEDULED' });

        const report = await settledReport(system);
        expect(report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${JSON.stringify(c.sample.slice(0, 2))}`)).toEqual([]);
        expect(report.checks.map((c) => c.name)).toContain('shipments-follow-approvals');
        expect(report.summary.modules[shippingModule.name]).toEqual({ 'shipments SCHEDULED': 1 });
        const notFound = await app.inject({ method: 'GET', url: `/shipments/${rejected}` });
        expect(notFound.statusCode).toBe(404);
        expect(notFound.json()).toMatchObject({ code: 'SHIPMENT_NOT_FOUND' });

        // Its message is in its own outbox, caused by the approval it handled.
        const [scheduled] = await sql<{ causation_id: string }>(
          system,
          `select causation_id::text from "${shippingModule.inbox.schema}".outbox where correlation_id = ? and type = 'shipping.shipment-scheduled.v1'`,
          [approved],
        );
        const [approval] = await sql<{ message_id: string }>(
          system,
          `select message_id::text from "${shippingModule.inbox.schema}".inbox where correlation_id = ? and use_case = ? and status = 'done'`,
          [approved, SCHEDULE],
        );
        expect(scheduled?.causation_id).toBe(approval?.message_id);

        if (ecs) {
          // The use case ran in its own task process, from the composition's bundle, and exited 0.
          const client = new ECSClient({});
          try {
            const arns =
              (await client.send(new ListTasksCommand({ cluster: 'local', family: taskFamilyOf(SCHEDULE), desiredStatus: 'STOPPED' })))
                .taskArns ?? [];
            const running =
              (await client.send(new ListTasksCommand({ cluster: 'local', family: taskFamilyOf(SCHEDULE), desiredStatus: 'RUNNING' })))
                .taskArns ?? [];
            expect(arns.length + running.length).toBeGreaterThan(0);
            if (arns.length > 0) {
              const described = (await client.send(new DescribeTasksCommand({ cluster: 'local', tasks: arns }))).tasks ?? [];
              for (const task of described) expect(task.containers?.[0]?.exitCode).toBe(0);
            }
          } finally {
            client.destroy();
          }
          expect(ecs.stats().tasksExitedNonZero).toBe(0);
        }
      },
    );
  },
);

describe('what the third module declares, served by a platform that does not know it', () => {
  it(
    'its scope and route in the OpenAPI document, its metric at /metrics, its dead letters in the consistency check',
    { timeout: 60_000 },
    async () => {
      const { system } = await start('memory', 'choreography');
      const { app } = system;
      const document = (await app.inject({ method: 'GET', url: '/openapi.json' })).json<{
        paths: Record<string, { get?: { security?: unknown } }>;
        components: { securitySchemes: { bearerAuth: { description: string } } };
      }>();
      expect(document.paths['/shipments/{orderId}']?.get?.security).toEqual([{ bearerAuth: ['shipments:read'] }]);
      expect(document.components.securitySchemes.bearerAuth.description).toContain('`shipments:read`: Read the shipment of an order');

      const customer = await registerCustomer(app, USD(1_000));
      const approved = await placeOrder(app, customer, USD(100));
      await waitForStatus(app, approved, ['APPROVED']);
      await settledReport(system);
      const metrics = await eventually(
        async () => {
          const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
          return text.includes('shipping_shipments{status="SCHEDULED"} 1') ? text : undefined;
        },
        { timeoutMs: 15_000, what: 'the shipments gauge' },
      );
      expect(metrics).toContain('# TYPE shipping_shipments gauge');

      await sql(system, `update "${shippingModule.inbox.schema}".inbox set status = 'dead', error_code = 'BOOM' where correlation_id = ?`, [
        approved,
      ]);
      const client = new pg.Client({ connectionString: system.config.DATABASE_URL });
      await client.connect();
      try {
        const report = await checkConsistency(inOneDatabase(client, THREE_MODULES, THREE_INBOXES), { mode: 'settled' });
        const dead = report.checks.find((c) => c.name === 'no-dead-letters');
        expect(dead?.ok).toBe(false);
        expect(dead?.sample).toEqual([
          expect.objectContaining({ schema: shippingModule.inbox.schema, useCase: SCHEDULE, errorCode: 'BOOM' }),
        ]);
      } finally {
        await client.end();
      }
    },
  );
});
