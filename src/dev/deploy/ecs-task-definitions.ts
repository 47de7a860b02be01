import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../../shared/infrastructure/config/config.js';
import { taskFamilyOf } from '../../shared/infrastructure/messaging/ecs/task-family.js';
import type { ModuleInbox } from '../../shared/contract/routing.js';
import { ALL_INBOXES } from '../../entrypoints/composition/inboxes.js';
import { exitForSettings, exitWithHelpIfAsked } from '../../entrypoints/cli-help.js';

/**
 * Generates one ECS task definition per use case (and one for the sweeper) from the modules'
 * declared subscriptions, so task definitions are never written by hand twice.
 * `--check` exits non-zero when deploy/ecs is stale (CI and a test run it).
 */
export const DEPLOY_DIR = 'deploy/ecs';

export interface TaskDefinition {
  readonly family: string;
  readonly [key: string]: unknown;
}

/**
 * The container command's script, which `npm run build` writes for every use case a contract
 * routes: it loads the module's bundle with its code cache and runs the use case
 * (scripts/bundle-tasks.ts, docs/adr/0015-bundled-task-entrypoints.md).
 */
export function taskEntrypointOf(useCase: string): string {
  const [module, name] = useCase.split('.') as [string, string];
  return `dist/tasks/${module}/${name}.task.js`;
}

function definition(family: string, command: string[], extraEnv: Record<string, string>): TaskDefinition {
  return {
    family,
    requiresCompatibilities: ['FARGATE'],
    networkMode: 'awsvpc',
    cpu: '256',
    memory: '512',
    runtimePlatform: { operatingSystemFamily: 'LINUX', cpuArchitecture: 'X86_64' },
    taskRoleArn: '${TASK_ROLE_ARN}',
    executionRoleArn: '${EXECUTION_ROLE_ARN}',
    containerDefinitions: [
      {
        name: 'app',
        image: '${IMAGE}',
        essential: true,
        command,
        stopTimeout: 30,
        environment: [
          { name: 'NODE_ENV', value: 'production' },
          { name: 'EVENT_BUS', value: 'ecs' },
          { name: 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED', value: 'true' },
          ...Object.entries(extraEnv).map(([name, value]) => ({ name, value })),
        ],
        secrets: [{ name: 'DATABASE_URL', valueFrom: '${DATABASE_URL_SECRET_ARN}' }],
        logConfiguration: {
          logDriver: 'awslogs',
          options: { 'awslogs-group': '/saga/tasks', 'awslogs-region': '${AWS_REGION}', 'awslogs-stream-prefix': family },
        },
      },
    ],
  };
}

/**
 * What a task needs, beyond the generated definition, to launch the next use case's task the way
 * the API does (its relay calls RunTask; the sweeper's schedule passes no overrides at all), and
 * that ECS does not give it: added to every definition that is registered, with the API's values
 * (`--render`, and the CDK app in deploy/cdk). Left out of deploy/ecs/*.json, which the local ECS
 * endpoint runs as they are.
 */
export const LAUNCH_SETTINGS = ['SAGA_STYLE', 'ECS_CLUSTER', 'ECS_SUBNETS', 'ECS_SECURITY_GROUPS', 'ECS_LAUNCH_TYPE'] as const;

export type LaunchSettings = Readonly<Record<(typeof LAUNCH_SETTINGS)[number], string>>;

/**
 * The OpenTelemetry settings (docs/observability.md) `--render` copies into every definition when
 * they are set (non-empty) in its environment: a task traces when its definition gives it an OTLP
 * endpoint (the launch overrides carry no `OTEL_*`). Never in deploy/ecs/*.json, which stay free
 * of deployment values (the local ECS endpoint runs them as they are). `OTEL_EXPORTER_OTLP_HEADERS` is deliberately not one of them: it may hold a
 * credential (an API key), so it belongs in the definition's `secrets` (Secrets Manager), never in
 * its plain environment. `OTEL_SERVICE_NAME`, when set, names every task and the sweeper alike
 * (unset, each is `saga-task-<use case>` or `saga-sweeper`).
 */
export const TRACING_SETTINGS = [
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  'OTEL_EXPORTER_OTLP_PROTOCOL',
  'OTEL_SERVICE_NAME',
  'OTEL_RESOURCE_ATTRIBUTES',
  'OTEL_TRACES_SAMPLER',
  'OTEL_TRACES_SAMPLER_ARG',
  'OTEL_BSP_SCHEDULE_DELAY',
  'OTEL_SDK_DISABLED',
] as const;

export type TracingEnvironment = Readonly<Partial<Record<(typeof TRACING_SETTINGS)[number], string>>>;

/** The tracing settings set (non-empty) in an environment; values are the task's to check at its start. */
export function tracingEnvironmentOf(env: NodeJS.ProcessEnv): TracingEnvironment {
  return Object.fromEntries(TRACING_SETTINGS.filter((name) => env[name]?.trim()).map((name) => [name, env[name]!])) as TracingEnvironment;
}

/** The placeholders of the generated definitions, filled when a definition is registered. */
export const PLACEHOLDERS = ['IMAGE', 'TASK_ROLE_ARN', 'EXECUTION_ROLE_ARN', 'DATABASE_URL_SECRET_ARN', 'AWS_REGION'] as const;

/**
 * The one-off migration as a task of the same image and shape (`node dist/entrypoints/migrate.js`):
 * not in deploy/ecs (nothing launches it by RunTask), registered by the CDK app's migration step.
 */
export function migrationTaskDefinition(): TaskDefinition {
  return definition('saga-migrate', ['node', 'dist/entrypoints/migrate.js'], {});
}

/**
 * One definition per use case the composition's inboxes route (default: the monolith's), each
 * running its task script (`entrypointOf`, default dist/tasks/...), then the sweeper's.
 */
export function generateTaskDefinitions(
  inboxes: readonly ModuleInbox[] = ALL_INBOXES,
  entrypointOf: (useCase: string) => string = taskEntrypointOf,
): TaskDefinition[] {
  const useCases = [...new Set(inboxes.flatMap((inbox) => inbox.routes.map((r) => r.useCase)))].sort();
  return [
    ...useCases.map((u) => definition(taskFamilyOf(u), ['node', entrypointOf(u)], { TASK_USE_CASE: u })),
    definition('saga-sweeper', ['node', 'dist/entrypoints/sweeper.js'], {}),
  ];
}

/**
 * A generated definition ready to register: the placeholders filled and the launch settings (and
 * the tracing settings given) appended to the container's environment (what the manual `jq` step
 * used to add).
 */
export function renderForRegistration(
  def: TaskDefinition,
  values: Readonly<Record<(typeof PLACEHOLDERS)[number], string>>,
  settings: LaunchSettings,
  tracing: TracingEnvironment = {},
): TaskDefinition {
  let text = JSON.stringify(def);
  for (const name of PLACEHOLDERS) text = text.split(`\${${name}}`).join(JSON.stringify(values[name]).slice(1, -1));
  const filled = JSON.parse(text) as TaskDefinition & {
    containerDefinitions: Array<{ environment: Array<{ name: string; value: string }> }>;
  };
  const container = filled.containerDefinitions[0]!;
  container.environment = [
    ...container.environment,
    ...LAUNCH_SETTINGS.map((name) => ({ name, value: settings[name] })),
    ...TRACING_SETTINGS.flatMap((name) => (tracing[name] ? [{ name, value: tracing[name] }] : [])),
  ];
  return filled;
}

function render(def: TaskDefinition): string {
  return `${JSON.stringify(def, null, 2)}\n`;
}

export function staleTaskDefinitions(dir = DEPLOY_DIR): string[] {
  const wanted = new Map(generateTaskDefinitions().map((d) => [`${d.family}.json`, render(d)]));
  let existing: string[];
  try {
    existing = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    existing = [];
  }
  const problems: string[] = [];
  for (const [file, content] of wanted) {
    let current: string | undefined;
    try {
      current = readFileSync(join(dir, file), 'utf8');
    } catch {
      current = undefined;
    }
    if (current === undefined) problems.push(`${file} is missing`);
    else if (current !== content) problems.push(`${file} is stale`);
  }
  for (const file of existing) if (!wanted.has(file)) problems.push(`${file} has no use case`);
  return problems;
}

export function writeTaskDefinitions(dir = DEPLOY_DIR): string[] {
  mkdirSync(dir, { recursive: true });
  const wanted = generateTaskDefinitions();
  const names = new Set(wanted.map((d) => `${d.family}.json`));
  for (const file of readdirSync(dir)) if (file.endsWith('.json') && !names.has(file)) rmSync(join(dir, file));
  for (const def of wanted) writeFileSync(join(dir, `${def.family}.json`), render(def));
  return [...names];
}

/**
 * `--render DIR`: every definition ready for `aws ecs register-task-definition`, the placeholders
 * and the launch settings taken from the environment (what the manual jq step used to do).
 * SAGA_STYLE defaults to choreography and ECS_LAUNCH_TYPE to FARGATE; the others are required.
 * The `OTEL_*` tracing settings that are set are carried too (TRACING_SETTINGS); none is required.
 */
export function renderFromEnvironment(dir: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const defaults: Partial<Record<string, string>> = { SAGA_STYLE: 'choreography', ECS_LAUNCH_TYPE: 'FARGATE' };
  const value = (name: string) => env[name] || defaults[name];
  const missing = [...PLACEHOLDERS, ...LAUNCH_SETTINGS].filter((name) => !value(name));
  if (missing.length > 0) throw new ConfigError([`${missing.join(', ')}: required in the environment by --render`]);
  const values = Object.fromEntries(PLACEHOLDERS.map((name) => [name, value(name)!])) as Record<(typeof PLACEHOLDERS)[number], string>;
  const settings = Object.fromEntries(LAUNCH_SETTINGS.map((name) => [name, value(name)!])) as LaunchSettings;
  const tracing = tracingEnvironmentOf(env);
  mkdirSync(dir, { recursive: true });
  return generateTaskDefinitions().map((def) => {
    const file = join(dir, `${def.family}.json`);
    writeFileSync(file, render(renderForRegistration(def, values, settings, tracing)));
    return file;
  });
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (invokedDirectly) {
  exitWithHelpIfAsked(
    process.argv.slice(2),
    "usage: ecs-task-definitions [--check | --render DIR]\n  writes deploy/ecs/*.json from the modules' routes; --check exits 1 if deploy/ecs is out of date;\n  --render DIR writes them ready to register, filled from IMAGE, TASK_ROLE_ARN, EXECUTION_ROLE_ARN,\n  DATABASE_URL_SECRET_ARN, AWS_REGION, ECS_CLUSTER, ECS_SUBNETS, ECS_SECURITY_GROUPS (SAGA_STYLE, ECS_LAUNCH_TYPE),\n  and carries the tracing settings that are set (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_SAMPLER...;\n  never OTEL_EXPORTER_OTLP_HEADERS, which belongs in the definitions' secrets)",
  );
  const renderAt = process.argv.indexOf('--render');
  if (renderAt >= 0) {
    try {
      const dir = process.argv[renderAt + 1];
      if (dir === undefined || dir.startsWith('-')) throw new Error('--render needs a directory to write to');
      process.stdout.write(`${renderFromEnvironment(dir).join('\n')}\n`);
    } catch (error) {
      if (error instanceof ConfigError) exitForSettings(error.problems);
      process.stderr.write(`${(error as Error).message}\n`);
      process.exit(1);
    }
  } else if (process.argv.includes('--check')) {
    const problems = staleTaskDefinitions();
    if (problems.length > 0) {
      process.stderr.write(
        `deploy/ecs is out of date (run npm run ecs:task-definitions):\n${problems.map((p) => `  - ${p}`).join('\n')}\n`,
      );
      process.exit(1);
    }
    process.stdout.write('deploy/ecs is up to date\n');
  } else {
    process.stdout.write(`wrote ${writeTaskDefinitions().join(', ')} to ${DEPLOY_DIR}\n`);
  }
}
