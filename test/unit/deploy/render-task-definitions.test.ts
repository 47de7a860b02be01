import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEPLOY_DIR,
  LAUNCH_SETTINGS,
  PLACEHOLDERS,
  renderFromEnvironment,
  staleTaskDefinitions,
} from '../../../src/entrypoints/ecs-task-definitions.js';

/** `npm run ecs:task-definitions -- --render DIR`: the manual registration path without jq. */
const ENV = {
  IMAGE: '123456789012.dkr.ecr.us-east-1.amazonaws.com/saga-monolith:abc123',
  TASK_ROLE_ARN: 'arn:aws:iam::123456789012:role/saga-task',
  EXECUTION_ROLE_ARN: 'arn:aws:iam::123456789012:role/saga-execution',
  DATABASE_URL_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:saga-db-url',
  AWS_REGION: 'us-east-1',
  ECS_CLUSTER: 'prod',
  ECS_SUBNETS: 'subnet-aaa,subnet-bbb',
  ECS_SECURITY_GROUPS: 'sg-123',
  SAGA_STYLE: 'orchestration',
};

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('rendering the task definitions for registration', () => {
  it('fills every placeholder and appends the launch settings, leaving deploy/ecs as it is', () => {
    dir = mkdtempSync(join(tmpdir(), 'ecs-render-'));
    const files = renderFromEnvironment(dir, ENV);
    expect(files.map((f) => f.slice(dir!.length + 1)).sort()).toEqual(readdirSync(DEPLOY_DIR).sort());
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      expect(text, file).not.toContain('${');
      const def = JSON.parse(text) as {
        taskRoleArn: string;
        containerDefinitions: Array<{ image: string; environment: Array<{ name: string; value: string }> }>;
      };
      expect(def.taskRoleArn).toBe(ENV.TASK_ROLE_ARN);
      expect(def.containerDefinitions[0]!.image).toBe(ENV.IMAGE);
      const env = new Map(def.containerDefinitions[0]!.environment.map((e) => [e.name, e.value]));
      for (const name of LAUNCH_SETTINGS) expect(env.has(name), `${file} ${name}`).toBe(true);
      expect(env.get('SAGA_STYLE')).toBe('orchestration');
      expect(env.get('ECS_LAUNCH_TYPE')).toBe('FARGATE');
      expect(env.get('ECS_SUBNETS')).toBe('subnet-aaa,subnet-bbb');
    }
    expect(staleTaskDefinitions()).toEqual([]);
  });

  it('names what is missing instead of writing half-filled definitions', () => {
    dir = mkdtempSync(join(tmpdir(), 'ecs-render-'));
    const { ECS_SUBNETS: _subnets, IMAGE: _image, ...partial } = ENV;
    expect(() => renderFromEnvironment(dir!, partial)).toThrow('--render needs IMAGE, ECS_SUBNETS in the environment');
    expect(readdirSync(dir)).toEqual([]);
    expect(PLACEHOLDERS).toContain('IMAGE');
  });
});
