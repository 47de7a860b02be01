import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/shared/infrastructure/logging/logger.js';
import { EcsTransport } from '../../../src/shared/infrastructure/messaging/ecs/ecs-transport.js';
import { InboxListener } from '../../../src/shared/infrastructure/messaging/inbox-listener.js';
import { customerModule } from '../../../src/modules/customer/customer.module.js';
import { ModuleDatabase } from '../../../src/shared/infrastructure/persistence/module-database.js';
import { PostgresDatabase } from '../../../src/shared/infrastructure/persistence/postgres-database.js';
import { createPgClient, isConnectionLoss } from '../../../src/shared/infrastructure/persistence/pg-connections.js';
import { uuidv7 } from '../../../src/shared/kernel/index.js';
import { cloneRunDatabase } from '../../support/databases.js';
import { eventually } from '../../support/system.js';

/**
 * PostgreSQL going away under a connection (a restart, a failover, `pg_terminate_backend`) makes
 * `pg` emit 'error' on the client; with no listener Node throws it and the process dies. Each
 * owner of connections is tested here the way a restart meets it: its backends are terminated
 * while it holds a connection, and the process must go on (an uncaught 'error' fails the test
 * run), the work on that connection must fail with a connection error, and the next piece of
 * work must get a new connection.
 */
const logger = createLogger({ level: 'silent' });
let databaseUrl: string;
let admin: pg.Client;
const uncaught: unknown[] = [];
const onUncaught = (error: unknown) => uncaught.push(error);

async function terminate(applicationName: string): Promise<number> {
  const { rows } = await admin.query<{ n: number }>(
    'select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where application_name = $1 and pid <> pg_backend_pid()',
    [applicationName],
  );
  return rows[0]!.n;
}

/** Lets the socket events of a terminated backend reach their client. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 200));

beforeAll(async () => {
  databaseUrl = await cloneRunDatabase();
  admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  process.on('uncaughtException', onUncaught);
});

afterAll(async () => {
  process.off('uncaughtException', onUncaught);
  await admin.end();
});

afterEach(() => {
  expect(uncaught.splice(0), 'an error escaped to the process').toEqual([]);
});

describe('a connection lost under its owner', () => {
  it('PostgresDatabase.pgTransaction: a statement in flight fails with a connection error; the connection is not lent again', async () => {
    const database = await PostgresDatabase.connect({
      databaseUrl,
      poolSize: 1,
      entities: [],
      logger,
      applicationName: 'test:pool-inflight',
    });
    try {
      const sleeping = database.pgTransaction((connection) => connection.query('select pg_sleep(5)'));
      sleeping.catch(() => undefined); // asserted below, once the backend is gone
      await eventually(async () => ((await terminate('test:pool-inflight')) === 1 ? true : undefined));
      await expect(sleeping).rejects.toSatisfy(isConnectionLoss);
      // At once: PostgreSQL's FATAL arrived before the socket closed, and the dying connection must not be lent again.
      expect(await database.pgTransaction(async (connection) => (await connection.query('select 1')).rowCount)).toBe(1);
    } finally {
      await database.close();
    }
  });

  it('createPgClient: the loss reaches its listener', async () => {
    const lost: Error[] = [];
    const client = createPgClient({ connectionString: databaseUrl, application_name: 'test:client-loss' }, (e) => lost.push(e));
    await client.connect();
    await terminate('test:client-loss');
    await eventually(async () => (lost.length > 0 ? true : undefined));
    await client.end().catch(() => undefined);
  });

  it('ModuleDatabase (MikroORM pool): a transaction whose connection is lost fails; the next one gets a new connection', async () => {
    const db = await ModuleDatabase.connect({
      schema: customerModule.inbox.schema,
      entities: customerModule.entities,
      migrations: () => customerModule.migrations(),
      databaseUrl,
      poolSize: 2,
      logger,
      applicationName: 'test:module-loss',
    });
    try {
      const failed = db.run(async () => {
        await db.query('select 1');
        // Between two statements of the transaction, with nothing in flight.
        await terminate('test:module-loss');
        await settle();
        await db.query('select 2');
      });
      await expect(failed).rejects.toSatisfy(isConnectionLoss);
      expect(await db.run(() => db.query<{ n: number }>('select 3 as n'))).toEqual([{ n: 3 }]);
      // An idle pooled connection lost too is replaced on the next use.
      await terminate('test:module-loss');
      await settle();
      await expect(db.query('select 4')).resolves.toBeDefined();
    } finally {
      await db.close();
    }
  });

  it('EcsTransport (borrowing from its database pool): a launch decision whose connection is lost fails; the next decision gets another', async () => {
    const useCase = 'customer.reserve-credit';
    const schema = customerModule.inbox.schema;
    await admin.query(
      `insert into "${schema}".inbox (use_case, message_id, type, correlation_id, envelope) values ($1, $2, 'order.created.v1', $2, '{}')`,
      [useCase, uuidv7()],
    );
    const database = await PostgresDatabase.connect({
      databaseUrl,
      poolSize: 2,
      entities: [],
      logger,
      applicationName: 'test:launcher-loss',
    });
    const transport = new EcsTransport(
      {
        schemaOf: () => schema,
        databaseOf: () => database,
        sdk: { maxAttempts: 1, requestTimeoutMs: 500, connectionTimeoutMs: 500 },
        settings: {
          cluster: 'local',
          subnets: [],
          securityGroups: [],
          assignPublicIp: false,
          capacityProviderStrategy: [],
          taskDefinitionPrefix: '',
          revisions: new Map(),
          startFailingBeforeDeadLetterMs: 0,
          waitingMessageTypes: new Map(),
          containerName: 'app',
          maxTasksPerUseCase: 1,
          maxTasks: 4,
          taskConcurrency: 1,
          activeUseCases: [{ useCase, schema }],
          scaleOutBacklog: 500,
          leaseTtlMs: 60_000,
          taskStartTimeoutMs: 60_000,
          breakerBaseMs: 1_000,
          breakerMaxMs: 1_000,
          startFailuresBeforeDeadLetter: 5,
          propagatedEnvironment: {},
        },
      },
      logger,
    );
    // The launcher decides under the budget's advisory lock: held here, its decision waits on it
    // (a connection checked out of its pool, a statement in flight) until the backend goes away.
    const holder = new pg.Client({ connectionString: databaseUrl });
    await holder.connect();
    try {
      await holder.query('select pg_advisory_lock(7310558214590371861)');
      const decision = transport.launcher.ensureRunning(useCase);
      decision.catch(() => undefined); // asserted below, once the backend is gone
      await eventually(async () => {
        const { rows } = await admin.query(
          `select 1 from pg_stat_activity where application_name = 'test:launcher-loss' and wait_event_type = 'Lock'`,
        );
        return rows.length === 1 ? true : undefined;
      });
      await terminate('test:launcher-loss');
      await expect(decision).rejects.toSatisfy(isConnectionLoss);
      await holder.query('select pg_advisory_unlock(7310558214590371861)');
      await transport.launcher.ensureRunning(useCase);
      const { rows } = await admin.query(`select count(*)::int as n from "${schema}".launch_attempts where use_case = $1`, [useCase]);
      expect(rows[0]!.n).toBe(1);
    } finally {
      await holder.end();
      await transport.close();
      await database.close();
    }
  });

  it('InboxListener: its LISTEN connection lost, it listens again', async () => {
    let wakes = 0;
    const listener = new InboxListener({
      databaseUrl,
      useCase: 'test.connection-loss',
      logger,
      onWake: () => (wakes += 1),
      reconnectBaseMs: 10,
      reconnectMaxMs: 50,
    });
    listener.start();
    try {
      await eventually(async () => (listener.listening ? true : undefined));
      const before = wakes;
      await terminate('saga-listen:test.connection-loss');
      // Listening again is announced by a wake (the consumer looks for what it missed).
      await eventually(async () => (listener.listening && wakes > before ? true : undefined));
    } finally {
      await listener.close();
    }
  });
});
