import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../../../src/shared/infrastructure/config/config.js';

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
    expect(loadConfig({ TASK_WAKE_NOTIFY: 'false', TASK_IDLE_POLL_MS: '250' })).toMatchObject({ TASK_WAKE_NOTIFY: false, TASK_IDLE_POLL_MS: 250 });
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
});
