import { describe, expect, it } from 'vitest';
import {
  checkConnectionBudget,
  ConfigError,
  databaseUrlOf,
  loadConfig,
  maxEcsTasks,
  moduleDatabaseVariable,
  taskDefinitionRevisions,
} from '../../../../../src/shared/infrastructure/config/config.js';

function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected loadConfig to throw');
}

describe('loadConfig', () => {
  it('has a default for everything optional', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      NODE_ENV: 'development',
      SAGA_STYLE: 'choreography',
      EVENT_BUS: 'bullmq',
      PORT: 3000,
      ORDER_DEADLINE_MS: 60_000,
      DELIVERY_MAX_ATTEMPTS: 8,
      RETRY_BASE_MS: 500,
      REDELIVERY_AFTER_MS: 15_000,
      SWEEP_INTERVAL_MS: 1_000,
      BULLMQ_PREFIX: 'saga',
      ECS_SUBNETS: [],
      ECS_ASSIGN_PUBLIC_IP: false,
    });
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.REDIS_URL).toBeUndefined();
  });

  it('reads and converts what is set', () => {
    const config = loadConfig({
      SAGA_STYLE: 'orchestration',
      EVENT_BUS: 'memory',
      ORDER_DEADLINE_MS: '2500',
      DELIVERY_MAX_ATTEMPTS: '3',
      DATABASE_URL: 'postgres://u@localhost:5432/db',
      ECS_SUBNETS: ' subnet-a, ,subnet-b ',
      ECS_ASSIGN_PUBLIC_IP: 'yes',
    });
    expect(config).toMatchObject({
      SAGA_STYLE: 'orchestration',
      EVENT_BUS: 'memory',
      ORDER_DEADLINE_MS: 2_500,
      DELIVERY_MAX_ATTEMPTS: 3,
      DATABASE_URL: 'postgres://u@localhost:5432/db',
      ECS_SUBNETS: ['subnet-a', 'subnet-b'],
      ECS_ASSIGN_PUBLIC_IP: true,
    });
  });

  it('wakes ECS tasks by NOTIFY unless told not to; the idle poll is unset (the task picks 500 or 25 ms) or 1 to 60,000 ms', () => {
    expect(loadConfig({}).TASK_WAKE_NOTIFY).toBe(true);
    expect(loadConfig({}).TASK_IDLE_POLL_MS).toBeUndefined();
    expect(loadConfig({ TASK_WAKE_NOTIFY: 'false', TASK_IDLE_POLL_MS: '250' })).toMatchObject({
      TASK_WAKE_NOTIFY: false,
      TASK_IDLE_POLL_MS: 250,
    });
    expect(problemsOf({ TASK_IDLE_POLL_MS: '0' })[0]).toMatch(/^TASK_IDLE_POLL_MS: /);
  });

  it('treats an empty variable as unset', () => {
    const config = loadConfig({ SAGA_STYLE: '', PORT: '', DATABASE_URL: '', ORDER_DEADLINE_MS: undefined });
    expect(config.SAGA_STYLE).toBe('choreography');
    expect(config.PORT).toBe(3000);
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.ORDER_DEADLINE_MS).toBe(60_000);
  });

  it.each([
    ['SAGA_STYLE', 'saga'],
    ['EVENT_BUS', 'kafka'],
    ['PORT', '70000'],
    ['PORT', 'eighty'],
    ['ORDER_DEADLINE_MS', '99'],
    ['DELIVERY_MAX_ATTEMPTS', '2.5'],
    ['DELIVERY_MAX_ATTEMPTS', '0'],
    ['RETRY_BASE_MS', '-1'],
    ['DATABASE_URL', 'mysql://localhost/db'],
    ['DATABASE_URL', 'not a url'],
    ['REDIS_URL', 'http://localhost:6379'],
    ['BULLMQ_PREFIX', 'has:colon'],
    ['ECS_ASSIGN_PUBLIC_IP', 'maybe'],
  ])('refuses %s=%s with a ConfigError naming the variable', (name, value) => {
    const problems = problemsOf({ [name]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${name}: `));
  });

  it('reports every wrong variable at once, in a message an operator can act on', () => {
    let error: unknown;
    try {
      loadConfig({ SAGA_STYLE: 'both', RELAY_BATCH_SIZE: '0', HOST: 'localhost' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const { message, problems } = error as ConfigError;
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['RELAY_BATCH_SIZE', 'SAGA_STYLE']);
    expect(message).toMatch(/^Invalid configuration:\n {2}- /);
    expect(message).toContain('SAGA_STYLE');
    expect(message).toContain('RELAY_BATCH_SIZE');
  });

  it('ignores variables it does not know', () => {
    expect(loadConfig({ PATH: '/usr/bin', SOMETHING_ELSE: 'x' })).not.toHaveProperty('PATH');
  });

  it('gives the ECS transport defaults that fit Fargate: cold starts of tens of seconds, a minute billed per task', () => {
    expect(loadConfig({ EVENT_BUS: 'ecs' })).toMatchObject({
      ORDER_DEADLINE_MS: 300_000,
      LEASE_TTL_MS: 60_000,
      TASK_IDLE_GRACE_MS: 45_000,
      TASK_START_TIMEOUT_MS: 180_000,
    });
    expect(loadConfig({ EVENT_BUS: 'bullmq' })).toMatchObject({
      ORDER_DEADLINE_MS: 60_000,
      LEASE_TTL_MS: 30_000,
      TASK_IDLE_GRACE_MS: 2_000,
    });
    expect(loadConfig({ EVENT_BUS: 'ecs', ORDER_DEADLINE_MS: '1000', TASK_IDLE_GRACE_MS: '0' })).toMatchObject({
      ORDER_DEADLINE_MS: 1_000,
      TASK_IDLE_GRACE_MS: 0,
    });
  });

  it('refuses to run on ECS in production without a cluster, subnets, and a launch type or capacity provider strategy', () => {
    expect(problemsOf({ EVENT_BUS: 'ecs', NODE_ENV: 'production' })).toEqual([
      expect.stringMatching(/^ECS_CLUSTER: required/),
      expect.stringMatching(/^ECS_SUBNETS: required/),
      expect.stringMatching(/^ECS_LAUNCH_TYPE or ECS_CAPACITY_PROVIDER_STRATEGY: /),
    ]);
    expect(
      problemsOf({
        EVENT_BUS: 'ecs',
        NODE_ENV: 'production',
        ECS_CLUSTER: 'prod',
        ECS_SUBNETS: 'subnet-a',
        ECS_CAPACITY_PROVIDER_STRATEGY: 'FARGATE_SPOT:x',
      }),
    ).toEqual([expect.stringMatching(/^ECS_CAPACITY_PROVIDER_STRATEGY: "FARGATE_SPOT:x" is not provider\[:weight\[:base\]\]/)]);
    expect(() =>
      loadConfig({
        EVENT_BUS: 'ecs',
        NODE_ENV: 'production',
        ECS_CLUSTER: 'prod',
        ECS_SUBNETS: 'subnet-a',
        ECS_CAPACITY_PROVIDER_STRATEGY: 'FARGATE_SPOT:3:1,FARGATE:0',
      }),
    ).not.toThrow();
    expect(() => loadConfig({ EVENT_BUS: 'ecs' })).not.toThrow();
  });

  it('reads pinned task definition revisions as family:revision', () => {
    expect([
      ...taskDefinitionRevisions(loadConfig({ ECS_TASK_DEFINITION_REVISIONS: 'customer-reserve-credit:7, order-approve-order:12' })),
    ]).toEqual([
      ['customer-reserve-credit', 7],
      ['order-approve-order', 12],
    ]);
    expect(() => taskDefinitionRevisions(loadConfig({ ECS_TASK_DEFINITION_REVISIONS: 'customer-reserve-credit' }))).toThrow(
      /is not family:revision/,
    );
    expect(() => taskDefinitionRevisions(loadConfig({ ECS_TASK_DEFINITION_REVISIONS: 'customer-reserve-credit:0' }))).toThrow(
      /is not family:revision/,
    );
  });

  it('derives how many ECS tasks fit the connection budget from pools per database, not per module', () => {
    // 80 - 1 process × a pool of 10 = 70, for tasks of 4 claimers + 1 + 1 LISTEN connections: 11 tasks, whatever the modules.
    expect(maxEcsTasks(loadConfig({}))).toBe(11);
    expect(maxEcsTasks(loadConfig({ DB_CONNECTION_BUDGET: '50', DB_POOL_SIZE: '5', TASK_CONCURRENCY: '2' }))).toBe(11);
    // Without LISTEN a task holds one connection less.
    expect(maxEcsTasks(loadConfig({ TASK_WAKE_NOTIFY: 'false' }))).toBe(14);
    // Modules in two databases: a task may also hold one connection in the other.
    expect(maxEcsTasks(loadConfig({}), 2)).toBe(10);
    expect(maxEcsTasks(loadConfig({ ECS_MAX_TASKS: '3' }))).toBe(3);
    expect(() => checkConnectionBudget(loadConfig({ DB_CONNECTION_BUDGET: '40', DB_LONG_LIVED_PROCESSES: '2' }), 5)).toThrow(
      /leave room for 3 ECS task\(s\), fewer than the 5 use cases/,
    );
    expect(() => checkConnectionBudget(loadConfig({}), 5)).not.toThrow();
  });

  it('reads a module database per <MODULE>_DATABASE_URL, and refuses one that names no module', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://h/main', ORDER_DATABASE_URL: 'postgres://h/orders' });
    expect(databaseUrlOf(config, 'order', 'postgres://h/main', ['order', 'customer'])).toBe('postgres://h/orders');
    expect(databaseUrlOf(config, 'customer', 'postgres://h/main', ['order', 'customer'])).toBe('postgres://h/main');
    expect(moduleDatabaseVariable('order-history')).toBe('ORDER_HISTORY_DATABASE_URL');
    expect(() => databaseUrlOf(config, 'customer', 'postgres://h/main', ['customer', 'shipping'])).toThrow(
      /ORDER_DATABASE_URL: no module of this system is called so \(modules: customer, shipping\)/,
    );
    expect(() => loadConfig({ ORDER_DATABASE_URL: 'mysql://h/x' })).toThrow(
      /ORDER_DATABASE_URL: must be a URL with protocol postgres: or postgresql:/,
    );
    // The variables of the dev tools are not modules' databases.
    expect(loadConfig({ PROBE_DATABASE_URL: 'postgres://h/probe' }).MODULE_DATABASE_URLS.size).toBe(0);
  });
});
