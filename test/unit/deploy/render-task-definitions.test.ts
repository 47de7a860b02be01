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
  TRACING_SETTINGS,
} from '../../../src/dev/deploy/ecs-task-definitions.js';

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

type Rendered = { containerDefinitions: Array<{ environment: Array<{ name: string; value: string }> }> };

/** Each rendered definition's container environment, by file. */
function environmentsOf(files: readonly string[]): Array<[string, Map<string, string>]> {
  return files.map((file) => {
    const def = JSON.parse(readFileSync(file, 'utf8')) as Rendered;
    return [file, new Map(def.containerDefinitions[0]!.environment.map((e) => [e.name, e.value]))];
  });
}

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
      // No OTEL_* in the environment: tracing stays off, nothing of it is written.
      expect(
        [...env.keys()].filter((name) => name.startsWith('OTEL_')),
        file,
      ).toEqual([]);
    }
    expect(staleTaskDefinitions()).toEqual([]);
  });

  it('carries the tracing settings that are set into every definition, never the OTLP headers, never empty values', () => {
    dir = mkdtempSync(join(tmpdir(), 'ecs-render-'));
    const tracing = {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector.internal:4318',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=prod',
      OTEL_BSP_SCHEDULE_DELAY: '1000',
    };
    const files = renderFromEnvironment(dir, {
      ...ENV,
      ...tracing,
      OTEL_SERVICE_NAME: '', // empty counts as unset
      OTEL_SDK_DISABLED: ' ',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=secret-value',
      OTEL_LOG_LEVEL: 'debug', // not a deployment setting of the tasks
    });
    expect(files.length).toBe(readdirSync(DEPLOY_DIR).length);
    for (const [file, env] of environmentsOf(files)) {
      const otel = Object.fromEntries([...env].filter(([name]) => name.startsWith('OTEL_')));
      expect(otel, file).toEqual(tracing);
      expect(readFileSync(file, 'utf8'), file).not.toContain('secret-value');
    }
    expect(TRACING_SETTINGS).not.toContain('OTEL_EXPORTER_OTLP_HEADERS');
    for (const name of Object.keys(tracing)) expect(TRACING_SETTINGS).toContain(name);
    expect(staleTaskDefinitions()).toEqual([]);
  });

  it('names what is missing instead of writing half-filled definitions', () => {
    dir = mkdtempSync(join(tmpdir(), 'ecs-render-'));
    const { ECS_SUBNETS: _subnets, IMAGE: _image, ...partial } = ENV;
    expect(() => renderFromEnvironment(dir!, partial)).toThrow('IMAGE, ECS_SUBNETS: required in the environment by --render');
    expect(readdirSync(dir)).toEqual([]);
    expect(PLACEHOLDERS).toContain('IMAGE');
  });
});
