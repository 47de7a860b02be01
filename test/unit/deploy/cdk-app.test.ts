import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEPLOY_DIR, LAUNCH_SETTINGS } from '../../../src/dev/deploy/ecs-task-definitions.js';
import { buildApp, committedContext } from '../../../deploy/cdk/lib/app.js';
import { LOG_METRICS } from '../../../deploy/cdk/lib/alarms.js';
import type { SagaStack } from '../../../deploy/cdk/lib/saga-stack.js';
import { connectionPlan } from '../../../deploy/cdk/lib/connections.js';
import { Network, otlpPeer } from '../../../deploy/cdk/lib/network.js';
import { settingsFrom } from '../../../deploy/cdk/lib/settings.js';
import { activeUseCases, launchableBy, modules, taskFamilyOf } from '../../../deploy/cdk/lib/use-cases.js';
import { ALL_INBOXES as DECLARED_INBOXES } from '../../../src/entrypoints/composition/all-modules.js';
import { SAGA_STYLES, type ModuleInbox } from '../../../src/shared/contract/routing.js';
import { maxEcsTasks, taskConnections, type Config } from '../../../src/shared/infrastructure/config/config.js';

/**
 * The CDK app (deploy/cdk), synthesized offline for two deployments and checked the way a
 * platform engineer would review it: the task definitions against deploy/ecs, the pins handed to
 * the API, least-privilege launch permissions, the network's one-way doors, secrets, logs, the
 * sweeper's schedule, the release order, and cdk-nag's AWS Solutions checks.
 */
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const ALL_INBOXES: readonly ModuleInbox[] = DECLARED_INBOXES;

interface Synthesized {
  readonly stack: SagaStack;
  readonly template: Template;
  readonly json: Json;
  readonly outdir: string;
}

function synth(context: Record<string, string>): Synthesized {
  const outdir = mkdtempSync(join(tmpdir(), 'saga-cdk-'));
  const { app, stack } = buildApp({ outdir, context: { ...committedContext(), ...context } });
  const assembly = app.synth(); // throws if cdk-nag finds anything not acknowledged
  const json = assembly.getStackByName(stack.stackName).template as Json;
  return { stack, template: Template.fromJSON(json), json, outdir };
}

function resources(json: Json, type: string): Array<[string, Json]> {
  return Object.entries(json['Resources'] as Record<string, Json>).filter(([, r]) => r['Type'] === type);
}

interface JsonTaskDefinition {
  family: string;
  cpu: string;
  memory: string;
  runtimePlatform: Json;
  containerDefinitions: Array<{
    name: string;
    command: string[];
    stopTimeout: number;
    environment: Array<{ name: string; value: string }>;
    secrets: Array<{ name: string }>;
    logConfiguration: { logDriver: string; options: Record<string, string> };
  }>;
}

/** deploy/ecs/*.json as committed: what the CDK app must agree with. */
function committedDefinitions(): JsonTaskDefinition[] {
  return readdirSync(DEPLOY_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(DEPLOY_DIR, f), 'utf8')) as JsonTaskDefinition);
}

function taskDefinitionsByFamily(json: Json): Map<string, { id: string; props: Json }> {
  return new Map(
    resources(json, 'AWS::ECS::TaskDefinition').map(([id, r]) => [
      r['Properties']['Family'] as string,
      { id, props: r['Properties'] as Json },
    ]),
  );
}

function policyStatements(json: Json): Array<{ policy: string; roles: string[]; statement: Json }> {
  return resources(json, 'AWS::IAM::Policy').flatMap(([policy, r]) =>
    (r['Properties']['PolicyDocument']['Statement'] as Json[]).map((statement) => ({
      policy,
      roles: (r['Properties']['Roles'] as Json[]).map((ref) => ref['Ref'] as string),
      statement,
    })),
  );
}

function actionsOf(statement: Json): string[] {
  return ([] as string[]).concat(statement['Action']);
}

function resourcesOf(statement: Json): unknown[] {
  return ([] as unknown[]).concat(statement['Resource']);
}

/** The family a RunTask resource names: `...:task-definition/<family>:*` built with Fn::Join. */
function familyOfResource(resource: unknown): string {
  const text = JSON.stringify(resource);
  const match = /task-definition\/([A-Za-z0-9_-]+):\*/.exec(text);
  if (!match) throw new Error(`not a family ARN: ${text}`);
  return match[1]!;
}

function containerOf(props: Json): Json {
  return (props['ContainerDefinitions'] as Json[])[0]!;
}

function envOf(props: Json): Map<string, unknown> {
  return new Map(((containerOf(props)['Environment'] as Json[] | undefined) ?? []).map((e) => [e['Name'] as string, e['Value']]));
}

function ingressOf(json: Json): Json[] {
  const standalone = resources(json, 'AWS::EC2::SecurityGroupIngress').map(([, r]) => r['Properties'] as Json);
  const inline = resources(json, 'AWS::EC2::SecurityGroup').flatMap(([id, r]) =>
    ((r['Properties']['SecurityGroupIngress'] as Json[] | undefined) ?? []).map((rule) => ({
      ...rule,
      GroupId: { 'Fn::GetAtt': [id, 'GroupId'] },
    })),
  );
  return [...standalone, ...inline];
}

function egressOf(json: Json, groupId: string): Json[] {
  const standalone = resources(json, 'AWS::EC2::SecurityGroupEgress')
    .map(([, r]) => r['Properties'] as Json)
    .filter((p) => JSON.stringify(p['GroupId']).includes(`"${groupId}"`));
  const inline = (json['Resources'][groupId]['Properties']['SecurityGroupEgress'] as Json[] | undefined) ?? [];
  return [...standalone, ...inline];
}

/** The logical id of an L2 construct's resource, or of an L1 resource itself. */
function logicalId(stack: SagaStack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId((construct.node.defaultChild ?? construct) as never);
}

const AUTH = {
  authIssuer: 'https://id.example.com/',
  authAudience: 'saga-api',
  authJwksUrl: 'https://id.example.com/.well-known/jwks.json',
};
const ECS_PROD = { env: 'prod', eventBus: 'ecs', sagaStyle: 'choreography', ...AUTH };
/** The other branches: Aurora, orchestration, HTTPS, an imported VPC that brings its own egress, traces sampled to a collector in it. */
const OTEL_IN_VPC = { otelEndpoint: 'http://10.20.5.10:4318', otelSampleRatio: '0.25' };
const AURORA_IMPORTED = {
  ...AUTH,
  ...OTEL_IN_VPC,
  env: 'prod',
  eventBus: 'ecs',
  sagaStyle: 'orchestration',
  database: 'aurora',
  certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-0000-4000-8000-000000000000',
  vpcId: 'vpc-0123456789abcdef0',
  vpcCidr: '10.20.0.0/16',
  availabilityZones: 'us-east-1a,us-east-1b',
  privateSubnetIds: 'subnet-0123456789abcdef0,subnet-0123456789abcdef1',
  publicSubnetIds: 'subnet-0123456789abcdef2,subnet-0123456789abcdef3',
  consoleClientId: 'saga-console',
  consoleClientSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:saga-console-client-AbCdEf',
  consoleAuthorizationParams: 'audience=saga-api',
  publicUrl: 'https://saga.example.com',
};
/** Traces over HTTPS (443, which the AWS APIs' rule already allows), every one kept. */
const OTEL_HTTPS = { otelEndpoint: 'https://otlp.example.com' };
const BULLMQ_DEV = { env: 'dev', eventBus: 'bullmq', sagaStyle: 'orchestration', ...AUTH, ...OTEL_HTTPS };

let ecsProd: Synthesized;
let bullmqDev: Synthesized;
let auroraImported: Synthesized;

beforeAll(() => {
  ecsProd = synth(ECS_PROD);
  bullmqDev = synth(BULLMQ_DEV);
  auroraImported = synth(AURORA_IMPORTED);
}, 120_000);

afterAll(() => {
  for (const s of [ecsProd, bullmqDev, auroraImported]) if (s) rmSync(s.outdir, { recursive: true, force: true });
});

describe('EVENT_BUS=ecs, prod: the task definitions are deploy/ecs, registered', () => {
  it('registers one task definition per committed deploy/ecs definition, agreeing on family, command, cpu/memory and settings', () => {
    const registered = taskDefinitionsByFamily(ecsProd.json);
    const committed = committedDefinitions();
    expect(committed.length).toBeGreaterThan(1);
    for (const def of committed) {
      const found = registered.get(def.family);
      expect(found, `${def.family} is not registered by the CDK app`).toBeDefined();
      const props = found!.props;
      const container = containerOf(props);
      const json = def.containerDefinitions[0]!;
      expect(props['Cpu'], def.family).toBe(def.cpu);
      expect(props['Memory'], def.family).toBe(def.memory);
      expect(props['RuntimePlatform'], def.family).toEqual({
        CpuArchitecture: def.runtimePlatform['cpuArchitecture'],
        OperatingSystemFamily: def.runtimePlatform['operatingSystemFamily'],
      });
      expect(container['Name'], def.family).toBe(json.name);
      expect(container['Command'], def.family).toEqual(json.command);
      expect(container['StopTimeout'], def.family).toBe(json.stopTimeout);
      const env = envOf(props);
      for (const { name, value } of json.environment) expect(env.get(name), `${def.family} ${name}`).toBe(value);
      // The settings the manual jq step used to add are baked in: no task launches without them.
      for (const name of LAUNCH_SETTINGS) expect(env.has(name), `${def.family} lacks ${name}`).toBe(true);
      expect((container['Secrets'] as Json[]).map((s) => s['Name']).sort(), def.family).toEqual(json.secrets.map((s) => s.name).sort());
      expect(container['LogConfiguration']['LogDriver'], def.family).toBe(json.logConfiguration.logDriver);
      expect(container['LogConfiguration']['Options']['awslogs-stream-prefix'], def.family).toBe(
        json.logConfiguration.options['awslogs-stream-prefix'],
      );
    }
  });

  it('keeps the previous revisions active when a release registers new ones (their pins still launch during the rollout)', () => {
    for (const def of committedDefinitions()) {
      const { id } = taskDefinitionsByFamily(ecsProd.json).get(def.family)!;
      expect(ecsProd.json['Resources'][id]['UpdateReplacePolicy'], def.family).toBe('Retain');
    }
  });

  it('builds the images from one Dockerfile, for the platform the definitions declare, with a small build context', () => {
    const assets = JSON.parse(readFileSync(join(ecsProd.outdir, `${ecsProd.stack.stackName}.assets.json`), 'utf8')) as {
      dockerImages: Record<string, { source: { directory: string; platform: string; dockerBuildTarget?: string } }>;
    };
    const images = Object.entries(assets.dockerImages);
    // The runtime stage (API, sweeper, migration, workers) and the use-case tasks' slim stage.
    expect(images.map(([, i]) => i.source.dockerBuildTarget ?? 'runtime').sort()).toEqual(['runtime', 'task']);
    const platforms = new Set(
      committedDefinitions().map((d) => `${d.runtimePlatform['operatingSystemFamily']}/${d.runtimePlatform['cpuArchitecture']}`),
    );
    expect([...platforms]).toEqual(['LINUX/X86_64']);
    for (const [, image] of images) expect(image.source.platform).toBe('linux/amd64');
    for (const [, { props }] of taskDefinitionsByFamily(ecsProd.json)) expect(props['RuntimePlatform']['CpuArchitecture']).toBe('X86_64');
    // Each definition pulls the image of its command: a bundle the task stage, anything else the runtime stage.
    const taskHash = images.find(([, i]) => i.source.dockerBuildTarget === 'task')![0];
    let bundles = 0;
    for (const [family, { props }] of taskDefinitionsByFamily(ecsProd.json)) {
      const container = (props['ContainerDefinitions'] as Json[])[0]!;
      const runsBundle = String((container['Command'] as string[] | undefined)?.[1] ?? '').startsWith('dist/tasks/');
      if (runsBundle) bundles++;
      expect(JSON.stringify(container['Image']).includes(taskHash), family).toBe(runsBundle);
    }
    expect(bundles).toBeGreaterThan(0);
    // The staged context is what .dockerignore lets through: no node_modules, .data, .git, dist, deploy.
    const staged = readdirSync(join(ecsProd.outdir, images[0]![1].source.directory)).sort();
    expect(staged).toContain('Dockerfile');
    for (const kept of ['node_modules', '.data', '.git', 'dist', 'deploy', 'test']) expect(staged, kept).not.toContain(kept);
  });

  it('runs every task and the API on ARM64 (Graviton), image included, when the deployment asks, and refuses another value', () => {
    const arm = synth({ ...ECS_PROD, cpuArchitecture: 'ARM64' });
    const assets = JSON.parse(readFileSync(join(arm.outdir, `${arm.stack.stackName}.assets.json`), 'utf8')) as {
      dockerImages: Record<string, { source: { platform: string } }>;
    };
    expect(Object.values(assets.dockerImages).map((i) => i.source.platform)).toEqual(['linux/arm64', 'linux/arm64']);
    const families = taskDefinitionsByFamily(arm.json);
    expect(families.size).toBeGreaterThan(3);
    for (const [family, { props }] of families) expect(props['RuntimePlatform']['CpuArchitecture'], family).toBe('ARM64');
    expect(() => synth({ ...ECS_PROD, cpuArchitecture: 'arm' })).toThrow(/cpuArchitecture/);
  });

  it('registers no use-case definition that deploy/ecs does not have', () => {
    const committed = new Set(committedDefinitions().map((d) => d.family));
    const useCaseFamilies = [...taskDefinitionsByFamily(ecsProd.json)]
      .filter(([, d]) => envOf(d.props).has('TASK_USE_CASE'))
      .map(([f]) => f);
    expect(useCaseFamilies.length).toBe(committed.size - 1);
    for (const family of useCaseFamilies) expect(committed.has(family), family).toBe(true);
  });

  it('hands the API (and the scheduled sweeper) the pinned family:revision of every use case', () => {
    const stack = ecsProd.stack;
    const useCaseIds = stack.useCaseTasks!.tasks.map((t) => logicalId(stack, t.taskDefinition)).sort();
    expect(useCaseIds.length).toBe(committedDefinitions().length - 1);
    const api = ecsProd.json['Resources'][logicalId(stack, stack.api.service.taskDefinition)]['Properties'] as Json;
    const sweeper = ecsProd.json['Resources'][logicalId(stack, stack.useCaseTasks!.sweeper)]['Properties'] as Json;
    for (const props of [api, sweeper]) {
      const pins = envOf(props).get('ECS_TASK_DEFINITION_REVISIONS') as Json;
      const [separator, parts] = pins['Fn::Join'] as [string, Json[]];
      expect(separator).toBe(',');
      // Each pin is the revision's ARN cut after "task-definition/": family:revision, never a bare family.
      expect(parts.map((p) => p['Fn::Select'][1]['Fn::Split'][1]['Ref']).sort()).toEqual(useCaseIds);
      for (const p of parts) expect(p['Fn::Select'][0]).toBe(1);
    }
  });

  it('verifies the RDS certificate: the image trusts the RDS CA bundle, and the DATABASE_URL asks for verify-full', () => {
    const dockerfile = readFileSync('Dockerfile', 'utf8');
    const runtime = dockerfile.slice(dockerfile.indexOf(' AS runtime'));
    expect(runtime).toMatch(
      /^ADD https:\/\/truststore\.pki\.rds\.amazonaws\.com\/global\/global-bundle\.pem \/etc\/ssl\/certs\/rds-global-bundle\.pem$/m,
    );
    expect(runtime).toMatch(/^ENV NODE_EXTRA_CA_CERTS=\/etc\/ssl\/certs\/rds-global-bundle\.pem$/m);
    // Read by the application user, not only root (ADD from a URL writes 0600).
    expect(runtime.indexOf('chmod 0644 /etc/ssl/certs/rds-global-bundle.pem')).toBeLessThan(runtime.indexOf('USER node'));
    expect(JSON.stringify(ecsProd.json)).toContain('?sslmode=verify-full');
    expect(JSON.stringify(ecsProd.json)).not.toContain('no-verify');
  });

  it('keeps secrets out of every plain environment and logs every container with a retention', () => {
    for (const [, { props }] of taskDefinitionsByFamily(ecsProd.json)) {
      const env = envOf(props);
      for (const [name, value] of env) {
        expect(name).not.toMatch(/DATABASE_URL|REDIS_URL|PASSWORD|TOKEN/);
        expect(JSON.stringify(value)).not.toMatch(/postgres:\/\/|rediss?:\/\/|resolve:secretsmanager/);
      }
      // TLS to PostgreSQL for every pool, including those that drop the URL's sslmode.
      // Verified: the image trusts the RDS CA bundle (NODE_EXTRA_CA_CERTS in the Dockerfile).
      expect(env.get('PGSSLMODE')).toBe('verify-full');
      const secrets = containerOf(props)['Secrets'] as Json[];
      expect(secrets.find((s) => s['Name'] === 'DATABASE_URL')?.['ValueFrom']).toEqual({
        Ref: expect.stringMatching(/^DatabaseDatabaseUrl/),
      });
      const group = containerOf(props)['LogConfiguration']['Options']['awslogs-group'] as Json;
      expect(ecsProd.json['Resources'][group['Ref']]['Properties']['RetentionInDays']).toBe(90);
    }
    for (const [id, group] of resources(ecsProd.json, 'AWS::Logs::LogGroup'))
      expect(group['Properties']['RetentionInDays'], id).toBeGreaterThan(0);
  });
});

describe('EVENT_BUS=ecs, prod: least-privilege launch permissions', () => {
  function roleId(path: string[]): string {
    let node = ecsProd.stack.node;
    for (const id of path) node = node.findChild(id).node;
    return ecsProd.stack.getLogicalId(node.defaultChild as never);
  }

  function runTaskFamiliesOf(role: string): string[] {
    return policyStatements(ecsProd.json)
      .filter((s) => s.roles.includes(role) && actionsOf(s.statement).includes('ecs:RunTask'))
      .flatMap((s) => resourcesOf(s.statement).map(familyOfResource))
      .sort();
  }

  it('scopes every RunTask to named families in this cluster, every PassRole to named roles passed to ECS tasks, tagging to RunTask', () => {
    const statements = policyStatements(ecsProd.json);
    const clusterRef = { 'Fn::GetAtt': [logicalId(ecsProd.stack, ecsProd.stack.compute.cluster), 'Arn'] };
    const byAction = (action: string) => statements.filter((s) => actionsOf(s.statement).includes(action)).map((s) => s.statement);
    expect(byAction('ecs:RunTask').length).toBeGreaterThan(3);
    for (const statement of byAction('ecs:RunTask')) {
      expect(actionsOf(statement)).toEqual(['ecs:RunTask']);
      expect(resourcesOf(statement)).not.toContain('*');
      resourcesOf(statement).forEach(familyOfResource);
      expect(statement['Condition']).toEqual({ ArnEquals: { 'ecs:cluster': clusterRef } });
    }
    expect(byAction('iam:PassRole').length).toBe(byAction('ecs:RunTask').length);
    for (const statement of byAction('iam:PassRole')) {
      expect(resourcesOf(statement)).not.toContain('*');
      for (const resource of resourcesOf(statement)) expect(resource).toEqual({ 'Fn::GetAtt': [expect.any(String), 'Arn'] });
      expect(statement['Condition']).toEqual({ StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
    }
    for (const statement of byAction('ecs:TagResource')) {
      expect(JSON.stringify(statement['Resource'])).toMatch(/:task\/"/);
      expect(statement['Condition']).toEqual({ StringEquals: { 'ecs:CreateAction': 'RunTask' } });
    }
    for (const statement of [...byAction('ecs:DescribeTasks'), ...byAction('ecs:StopTask')]) {
      expect(resourcesOf(statement)).not.toContain('*');
      expect(statement['Condition']).toEqual({ ArnEquals: { 'ecs:cluster': clusterRef } });
    }
  });

  it('lets each process launch only what it can cause: the API and the sweeper the active use cases, a module its consumers and successors', () => {
    const active = activeUseCases('choreography').map((u) => u.replace('.', '-'));
    const orchestrationOnly = activeUseCases('orchestration').filter((u) => !activeUseCases('choreography').includes(u));
    expect(orchestrationOnly.length).toBeGreaterThan(0);
    for (const u of orchestrationOnly) expect(active).not.toContain(u.replace('.', '-'));
    expect(runTaskFamiliesOf(roleId(['Api', 'TaskRole']))).toEqual(active);
    expect(runTaskFamiliesOf(roleId(['UseCases', 'SweeperTaskRole']))).toEqual(active);
    for (const module of modules())
      expect(runTaskFamiliesOf(roleId(['UseCases', `${module}TaskRole`])), module).toEqual(
        launchableBy(module, 'choreography').map((u) => u.replace('.', '-')),
      );
    expect(runTaskFamiliesOf(roleId(['UseCases', 'SchedulerRole']))).toEqual(['saga-sweeper']);
    expect(runTaskFamiliesOf(roleId(['Migration', 'Handler', 'ServiceRole']))).toEqual(['saga-migrate']);
    // Only the maintenance passes (the API's, every few seconds, and the sweeper's; ADR 36) and the
    // migration's wait observe tasks; only those two passes stop them, never a use-case task.
    const stoppers = policyStatements(ecsProd.json).filter((s) => actionsOf(s.statement).includes('ecs:StopTask'));
    expect(stoppers.flatMap((s) => s.roles).sort()).toEqual([roleId(['Api', 'TaskRole']), roleId(['UseCases', 'SweeperTaskRole'])].sort());
  });

  it('derives who may launch what from the routes and the declared publications, never what a module cannot cause', () => {
    for (const style of SAGA_STYLES)
      for (const module of modules()) {
        const own = ALL_INBOXES.find((i) => i.module === module)!;
        const launched = launchableBy(module, style);
        // Its own active use cases (a task launches its successor) ...
        for (const u of activeUseCases(style).filter((u) => own.routes.some((r) => r.useCase === u))) expect(launched, module).toContain(u);
        // ... and another module's only when a route under this style carries a message it publishes.
        for (const u of launched.filter((u) => !own.routes.some((r) => r.useCase === u)))
          expect(
            ALL_INBOXES.some((i) =>
              i.routes.some((r) => r.useCase === u && r.styles.includes(style) && own.publishes.includes(r.messageType)),
            ),
            `${module} launches ${u} under ${style}`,
          ).toBe(true);
      }
  });

  it('gives a module added beside the others its own use cases and nothing it does not trigger, and its trigger the new use case', () => {
    const producer = ALL_INBOXES[0]!;
    const event = producer.publishes[0]!;
    const added: ModuleInbox = {
      module: 'fixture',
      schema: 'fixture',
      routes: [{ useCase: 'fixture.react', messageType: event, styles: [...SAGA_STYLES], key: 'id' }],
      publishes: ['fixture.reacted.v1'],
    };
    const inboxes = [...ALL_INBOXES, added];
    for (const style of SAGA_STYLES) {
      expect(launchableBy('fixture', style, inboxes)).toEqual(['fixture.react']);
      expect(launchableBy(producer.module, style, inboxes)).toContain('fixture.react');
      for (const other of ALL_INBOXES.filter((i) => !i.publishes.includes(event)))
        expect(launchableBy(other.module, style, inboxes)).not.toContain('fixture.react');
    }
  });
});

describe('EVENT_BUS=ecs, prod: network, schedule, release order', () => {
  it('admits the API from the load balancer only, PostgreSQL from the application only, nothing to the tasks', () => {
    const stack = ecsProd.stack;
    const sg = (g: { node: { defaultChild?: unknown } }) => ({ 'Fn::GetAtt': [logicalId(stack, g), 'GroupId'] });
    const { albSg, apiSg, tasksSg, databaseSg } = stack.network;
    const ingress = ingressOf(ecsProd.json);
    const into = (g: typeof apiSg) => ingress.filter((r) => JSON.stringify(r['GroupId']) === JSON.stringify(sg(g)));
    expect(into(apiSg).map((r) => [r['SourceSecurityGroupId'], r['FromPort'], r['ToPort']])).toEqual([[sg(albSg), 3000, 3000]]);
    expect(
      into(databaseSg)
        .map((r) => [r['SourceSecurityGroupId'], r['FromPort']])
        .sort(),
    ).toEqual(
      [
        [sg(apiSg), 5432],
        [sg(tasksSg), 5432],
      ].sort(),
    );
    expect(into(tasksSg)).toEqual([]);
    for (const rule of ingress.filter((r) => r['CidrIp'] === '0.0.0.0/0')) expect(rule['GroupId']).toEqual(sg(albSg));
    const egress = egressOf(ecsProd.json, logicalId(stack, tasksSg)).map((r) => [
      r['CidrIp'] ?? r['DestinationSecurityGroupId'],
      r['FromPort'],
    ]);
    expect(egress.sort()).toEqual(
      [
        ['0.0.0.0/0', 443],
        [sg(databaseSg), 5432],
      ].sort(),
    );
  });

  it('reaches ECR, S3, Logs, Secrets Manager and ECS through endpoints, without a NAT gateway', () => {
    const services = resources(ecsProd.json, 'AWS::EC2::VPCEndpoint').map(([, r]) => JSON.stringify(r['Properties']['ServiceName']));
    for (const service of ['ecr.api', 'ecr.dkr', '.logs', 'secretsmanager', '.ecs"', '.s3'])
      expect(
        services.some((s) => s.includes(service)),
        service,
      ).toBe(true);
    expect(resources(ecsProd.json, 'AWS::EC2::NatGateway')).toEqual([]);
  });

  it('routes image layers through the free S3 gateway endpoint whatever the egress, NAT included', () => {
    for (const [name, synthesized] of [
      ['egress=endpoints', ecsProd],
      ['egress=nat', bullmqDev],
    ] as const) {
      const gateways = resources(synthesized.json, 'AWS::EC2::VPCEndpoint').filter(
        ([, r]) => r['Properties']['VpcEndpointType'] === 'Gateway' && JSON.stringify(r['Properties']['ServiceName']).includes('.s3'),
      );
      expect(gateways, name).toHaveLength(1);
    }
    expect(resources(bullmqDev.json, 'AWS::EC2::NatGateway')).toHaveLength(1);
  });

  it('starts the pinned sweeper revision every minute, with a role of its own', () => {
    const stack = ecsProd.stack;
    const [[, schedule]] = resources(ecsProd.json, 'AWS::Scheduler::Schedule') as [[string, Json]];
    const target = schedule['Properties']['Target'] as Json;
    expect(schedule['Properties']['ScheduleExpression']).toBe('rate(1 minute)');
    // The Ref of a task definition is its ARN with the revision: the schedule runs exactly that one.
    expect(target['EcsParameters']['TaskDefinitionArn']).toEqual({ Ref: logicalId(stack, stack.useCaseTasks!.sweeper) });
    expect(target['EcsParameters']['NetworkConfiguration']['AwsvpcConfiguration']['AssignPublicIp']).toBe('DISABLED');
    const schedulerRole = stack.getLogicalId(stack.useCaseTasks!.node.findChild('SchedulerRole').node.defaultChild as never);
    expect(target['RoleArn']).toEqual({ 'Fn::GetAtt': [schedulerRole, 'Arn'] });
    expect(ecsProd.json['Resources'][schedulerRole]['Properties']['AssumeRolePolicyDocument']['Statement'][0]['Principal']).toEqual({
      Service: 'scheduler.amazonaws.com',
    });
  });

  it('migrates before the API, the sweeper schedule and their new versions: the services wait for the trigger', () => {
    const [[trigger]] = resources(ecsProd.json, 'Custom::Trigger') as [[string, Json]];
    const dependsOn = (id: string) => ([] as string[]).concat(ecsProd.json['Resources'][id]['DependsOn'] ?? []);
    const stack = ecsProd.stack;
    expect(dependsOn(logicalId(stack, stack.api.service))).toContain(trigger);
    expect(dependsOn(logicalId(stack, stack.useCaseTasks!.schedule))).toContain(trigger);
    const handler = ecsProd.json['Resources'][logicalId(stack, stack.migration.node.findChild('Handler'))]['Properties'] as Json;
    expect(handler['Environment']['Variables']['TASK_DEFINITION']).toEqual({ Ref: logicalId(stack, stack.migration.taskDefinition) });
  });

  it("gives the API its token issuer, the ALB's subnets as its proxies and a generated admin token; no environment deploys without an issuer", () => {
    const api = taskDefinitionsByFamily(ecsProd.json).get('saga-api')!.props;
    const env = envOf(api);
    expect([env.get('AUTH_ISSUER'), env.get('AUTH_AUDIENCE'), env.get('AUTH_JWKS_URL')]).toEqual([
      AUTH.authIssuer,
      AUTH.authAudience,
      AUTH.authJwksUrl,
    ]);
    // The ALB's subnets, as CIDRs: the API believes X-Forwarded-For from the balancer's addresses only.
    const albSubnets = resources(ecsProd.json, 'AWS::ElasticLoadBalancingV2::LoadBalancer')[0]![1]['Properties']['Subnets'] as Json[];
    const cidrOf = (ref: Json) => ecsProd.json['Resources'][ref['Ref'] as string]['Properties']['CidrBlock'] as string;
    expect(albSubnets).toHaveLength(2);
    expect(env.get('TRUST_PROXY')).toBe(albSubnets.map(cidrOf).join(','));
    expect(env.get('TRUST_PROXY')).toBe('10.40.0.0/24,10.40.1.0/24');
    expect((containerOf(api)['Secrets'] as Json[]).find((s) => s['Name'] === 'ADMIN_TOKEN')?.['ValueFrom']).toEqual({
      Ref: expect.stringMatching(/^AdminToken/),
    });
    const outdir = mkdtempSync(join(tmpdir(), 'saga-cdk-'));
    try {
      expect(() => buildApp({ outdir, context: { ...committedContext(), ...ECS_PROD, authJwksUrl: '' } })).toThrow(
        /authIssuer, authAudience and authJwksUrl/,
      );
      const { authIssuer: _issuer, ...devWithoutIssuer } = BULLMQ_DEV;
      expect(() => buildApp({ outdir, context: { ...committedContext(), ...devWithoutIssuer } })).toThrow(
        /authIssuer, authAudience and authJwksUrl/,
      );
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });

  it('serves the API behind the load balancer with readiness health checks, a rolling-back breaker and two scaling policies', () => {
    const t = ecsProd.template;
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', { HealthCheckPath: '/health/live', TargetType: 'ip' });
    t.hasResourceProperties('AWS::ECS::Service', {
      DeploymentConfiguration: Match.objectLike({ DeploymentCircuitBreaker: { Enable: true, Rollback: true } }),
      LoadBalancers: Match.anyValue(),
    });
    t.resourcePropertiesCountIs('AWS::ApplicationAutoScaling::ScalingPolicy', Match.objectLike({ PolicyType: 'TargetTrackingScaling' }), 2);
    t.hasResourceProperties('AWS::RDS::DBInstance', {
      StorageEncrypted: true,
      DeletionProtection: true,
      MultiAZ: true,
      BackupRetentionPeriod: 14,
    });
  });
});

describe('EVENT_BUS=bullmq, dev: workers and Redis instead of use-case tasks', () => {
  it('runs always-on workers and Redis over TLS, and launches no task', () => {
    const families = [...taskDefinitionsByFamily(bullmqDev.json).keys()].sort();
    expect(families).toEqual(['dev-saga-api', 'dev-saga-migrate', 'dev-saga-worker']);
    const worker = taskDefinitionsByFamily(bullmqDev.json).get('dev-saga-worker')!.props;
    expect(containerOf(worker)['Command']).toEqual(['node', 'dist/entrypoints/worker.js']);
    expect(envOf(worker).get('EVENT_BUS')).toBe('bullmq');
    bullmqDev.template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      TransitEncryptionEnabled: true,
      AtRestEncryptionEnabled: true,
    });
    for (const [family, { props }] of taskDefinitionsByFamily(bullmqDev.json))
      expect((containerOf(props)['Secrets'] as Json[]).map((s) => s['Name']).sort(), family).toEqual(
        family === 'dev-saga-api' ? ['ADMIN_TOKEN', 'DATABASE_URL', 'REDIS_URL'] : ['DATABASE_URL', 'REDIS_URL'],
      );
    const runTask = policyStatements(bullmqDev.json).filter((s) => actionsOf(s.statement).includes('ecs:RunTask'));
    expect(runTask.flatMap((s) => resourcesOf(s.statement).map(familyOfResource))).toEqual(['dev-saga-migrate']);
    expect(resources(bullmqDev.json, 'AWS::Scheduler::Schedule')).toEqual([]);
    // dev: one NAT gateway instead of five interface endpoints; no deletion protection.
    expect(resources(bullmqDev.json, 'AWS::EC2::NatGateway')).toHaveLength(1);
    bullmqDev.template.hasResourceProperties('AWS::RDS::DBInstance', { DeletionProtection: false, MultiAZ: false });
  });
});

describe('the other branches: Aurora, orchestration, HTTPS, an imported VPC', () => {
  it('serves HTTPS with a redirect, runs Aurora encrypted, creates no network of its own, launches the orchestration use cases', () => {
    const t = auroraImported.template;
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Protocol: 'HTTPS', Port: 443 });
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Protocol: 'HTTP',
      Port: 80,
      DefaultActions: [Match.objectLike({ Type: 'redirect' })],
    });
    t.hasResourceProperties('AWS::RDS::DBCluster', { StorageEncrypted: true, DeletionProtection: true, Engine: 'aurora-postgresql' });
    for (const type of ['AWS::EC2::VPC', 'AWS::EC2::NatGateway', 'AWS::EC2::VPCEndpoint'])
      expect(resources(auroraImported.json, type), type).toEqual([]);
    const api = taskDefinitionsByFamily(auroraImported.json).get('saga-api')!.props;
    expect(envOf(api).get('SAGA_STYLE')).toBe('orchestration');
    // Subnets known by id only: the imported VPC's CIDR holds the ALB's addresses.
    expect(envOf(api).get('TRUST_PROXY')).toBe(AURORA_IMPORTED.vpcCidr);
    expect(JSON.stringify(envOf(api).get('ECS_SUBNETS'))).toContain('subnet-0123456789abcdef0');
    const launched = policyStatements(auroraImported.json)
      .filter((s) => actionsOf(s.statement).includes('ecs:RunTask'))
      .flatMap((s) => resourcesOf(s.statement).map(familyOfResource));
    expect([...new Set(launched)].sort()).toEqual(
      [...activeUseCases('orchestration').map(taskFamilyOf), 'saga-migrate', 'saga-sweeper'].sort(),
    );
  });
});

describe('console sign-in: consoleClientId', () => {
  it('gives the API the client, its public origin and secrets (the session secret generated), and nothing without it', () => {
    const api = taskDefinitionsByFamily(auroraImported.json).get('saga-api')!.props;
    const env = envOf(api);
    expect([env.get('CONSOLE_OIDC_CLIENT_ID'), env.get('CONSOLE_PUBLIC_URL'), env.get('CONSOLE_OIDC_AUTHORIZATION_PARAMS')]).toEqual([
      'saga-console',
      'https://saga.example.com',
      'audience=saga-api',
    ]);
    const secrets = new Map((containerOf(api)['Secrets'] as Json[]).map((s) => [s['Name'] as string, s['ValueFrom']]));
    expect(secrets.get('CONSOLE_SESSION_SECRET')).toEqual({ Ref: expect.stringMatching(/^ConsoleSessionSecret/) });
    expect(secrets.get('CONSOLE_OIDC_CLIENT_SECRET')).toBe(AURORA_IMPORTED.consoleClientSecretArn);
    const prodApi = taskDefinitionsByFamily(ecsProd.json).get('saga-api')!.props;
    expect([...envOf(prodApi).keys()].filter((k) => k.startsWith('CONSOLE_'))).toEqual([]);
  });

  it('refuses it without HTTPS at the ALB or an https origin to come back to', () => {
    const outdir = mkdtempSync(join(tmpdir(), 'saga-cdk-'));
    try {
      const build = (context: Record<string, string>) => () =>
        buildApp({ outdir, context: { ...committedContext(), ...ECS_PROD, ...context } });
      expect(build({ consoleClientId: 'c', publicUrl: 'https://saga.example.com' })).toThrow(
        /context certificateArn: consoleClientId needs HTTPS/,
      );
      const https = { consoleClientId: 'c', certificateArn: AURORA_IMPORTED.certificateArn };
      expect(build(https)).toThrow(/context publicUrl/);
      expect(build({ ...https, publicUrl: 'http://saga.example.com' })).toThrow(/context publicUrl/);
      expect(build({ ...https, publicUrl: 'https://saga.example.com/console' })).toThrow(/context publicUrl/);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});

describe('OpenTelemetry tracing: otelEndpoint and otelSampleRatio', () => {
  const otelOf = (props: Json) => Object.fromEntries([...envOf(props)].filter(([name]) => name.startsWith('OTEL_')));

  it('gives the API, the sweeper and every use-case task the endpoint and a parent-based ratio sampler; the migration nothing', () => {
    const families = [...taskDefinitionsByFamily(auroraImported.json)];
    const traced = families.filter(([family]) => family !== 'saga-migrate').map(([family]) => family);
    expect(traced.sort()).toEqual(['saga-api', ...committedDefinitions().map((d) => d.family)].sort());
    for (const [family, { props }] of families)
      expect(otelOf(props), family).toEqual(
        family === 'saga-migrate'
          ? {}
          : {
              OTEL_EXPORTER_OTLP_ENDPOINT: OTEL_IN_VPC.otelEndpoint,
              OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
              OTEL_TRACES_SAMPLER_ARG: '0.25',
            },
      );
  });

  it('keeps every trace with the default ratio of 1, in the BullMQ workers too', () => {
    const families = [...taskDefinitionsByFamily(bullmqDev.json)];
    expect(families.map(([family]) => family).sort()).toEqual(['dev-saga-api', 'dev-saga-migrate', 'dev-saga-worker']);
    for (const [family, { props }] of families)
      expect(otelOf(props), family).toEqual(
        family === 'dev-saga-migrate'
          ? {}
          : { OTEL_EXPORTER_OTLP_ENDPOINT: OTEL_HTTPS.otelEndpoint, OTEL_TRACES_SAMPLER: 'parentbased_always_on' },
      );
  });

  it('sets no OTEL_ variable anywhere without otelEndpoint', () => {
    const families = [...taskDefinitionsByFamily(ecsProd.json)];
    expect(families.length).toBe(committedDefinitions().length + 2);
    for (const [family, { props }] of families) expect(otelOf(props), family).toEqual({});
  });

  it("opens the endpoint's port to the API and the tasks only when 443 does not cover it, and only to its address", () => {
    const egress = (s: Synthesized, group: { node: { defaultChild?: unknown } }) =>
      egressOf(s.json, logicalId(s.stack, group))
        .filter((r) => r['CidrIp'] !== undefined)
        .map((r) => [r['CidrIp'], r['FromPort'], r['ToPort']]);
    for (const group of [auroraImported.stack.network.apiSg, auroraImported.stack.network.tasksSg])
      expect(egress(auroraImported, group).sort(), group.node.path).toEqual(
        [
          ['0.0.0.0/0', 443, 443],
          ['10.20.5.10/32', 4318, 4318],
        ].sort(),
      );
    for (const group of [bullmqDev.stack.network.apiSg, bullmqDev.stack.network.tasksSg])
      expect(egress(bullmqDev, group), group.node.path).toEqual([['0.0.0.0/0', 443, 443]]);
    // The network alone, for the other endpoints: a named host's addresses are unknown at synthesis
    // (any IPv4 address, on that port only); 443 is open already; a sidecar on the loopback needs no rule.
    const traceEgress = (otelEndpoint: string) => {
      const network = new Network(
        new Stack(new App(), 'NetworkOnly'),
        'Network',
        settingsFrom((key) => ({ ...ECS_PROD, otelEndpoint })[key]),
      );
      const json = Template.fromStack(Stack.of(network)).toJSON() as Json;
      return egressOf(json, Stack.of(network).getLogicalId(network.tasksSg.node.defaultChild as never))
        .filter((r) => r['CidrIp'] !== undefined && !(r['CidrIp'] === '0.0.0.0/0' && r['FromPort'] === 443))
        .map((r) => [r['CidrIp'], r['FromPort']]);
    };
    expect(traceEgress('http://otel-collector.internal:4318')).toEqual([['0.0.0.0/0', 4318]]);
    expect(traceEgress('http://otel-collector.internal')).toEqual([['0.0.0.0/0', 80]]);
    for (const covered of ['https://10.40.7.7', 'https://otlp.example.com:443', 'http://localhost:4318', 'http://127.0.0.1:4318'])
      expect(traceEgress(covered), covered).toEqual([]);
    expect(otlpPeer('10.20.5.10')?.toEgressRuleConfig()).toEqual({ cidrIp: '10.20.5.10/32' });
    expect(otlpPeer('[::1]')).toBeUndefined();
  });

  it('refuses an endpoint that is not a base http(s) URL without credentials, and a ratio outside (0, 1]', () => {
    const settings = (context: Record<string, string>) =>
      settingsFrom((key) => ({ ...committedContext(), ...ECS_PROD, ...context })[key]).tracing;
    expect(settings({})).toBeUndefined();
    expect(settings({ otelEndpoint: '' })).toBeUndefined();
    expect(settings({ otelEndpoint: 'https://otlp.example.com' })).toMatchObject({ host: 'otlp.example.com', port: 443, sampleRatio: 1 });
    expect(settings({ otelEndpoint: 'http://collector', otelSampleRatio: '1' })).toMatchObject({ port: 80, sampleRatio: 1 });
    for (const otelEndpoint of ['collector:4318', 'grpc://collector:4317', 'not a url'])
      expect(() => settings({ otelEndpoint }), otelEndpoint).toThrow(/^context otelEndpoint: .* (is not a URL|is not an http\(s\) URL)/);
    expect(() => settings({ otelEndpoint: 'https://user:s3cret@otlp.example.com' })).toThrow(/carries credentials/);
    expect(() => settings({ otelEndpoint: 'https://user:s3cret@otlp.example.com' })).not.toThrow(/s3cret/);
    expect(() => settings({ otelEndpoint: 'https://otlp.example.com/?api_key=s3cret' })).toThrow(
      /^context otelEndpoint: "https:\/\/otlp\.example\.com\/" has a query/,
    );
    expect(() => settings({ otelEndpoint: 'http://collector:4318/v1/traces' })).toThrow(/ends in \/v1\/traces/);
    for (const otelSampleRatio of ['0', '-0.5', '1.5', 'half'])
      expect(() => settings({ otelEndpoint: 'http://collector:4318', otelSampleRatio }), otelSampleRatio).toThrow(
        /^context otelSampleRatio: .* is not a ratio in \(0, 1\]/,
      );
    // Checked without an endpoint too, so a typo in cdk.json fails now, not the day tracing is turned on.
    expect(() => settings({ otelSampleRatio: '2' })).toThrow(/otelSampleRatio/);
    const outdir = mkdtempSync(join(tmpdir(), 'saga-cdk-'));
    try {
      expect(() => buildApp({ outdir, context: { ...committedContext(), ...ECS_PROD, otelEndpoint: 'ftp://collector' } })).toThrow(
        /context otelEndpoint/,
      );
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});

describe("the connection arithmetic is the application's", () => {
  it('leaves the tasks what maxEcsTasks computes from the same settings, and refuses a budget without a task per active use case', () => {
    for (const { stack } of [ecsProd, auroraImported]) {
      const plan = stack.connections;
      const config = {
        DB_CONNECTION_BUDGET: plan.budget,
        DB_LONG_LIVED_PROCESSES: plan.longLivedProcesses,
        DB_POOL_SIZE: stack.settings.dbPoolSize,
        TASK_CONCURRENCY: stack.settings.taskConcurrency,
      } as Config;
      expect(plan.maxTasks).toBe(maxEcsTasks({ ...config, TASK_WAKE_NOTIFY: true } as Config));
      expect(plan.perTask).toBe(taskConnections({ ...config, TASK_WAKE_NOTIFY: true } as Config));
      expect(plan.maxTasks).toBeGreaterThanOrEqual(activeUseCases(stack.settings.sagaStyle).length);
    }
    // Without the proxy, a budget the long-lived pools fill is refused; with it, one they leave nothing of.
    expect(() => connectionPlan({ ...ecsProd.stack.settings, apiMaxTasks: 14, taskProxy: 'off' }, 5, 160, 190)).toThrow(
      /connection budget 160 is too small: 15 long-lived processes × 10 \+ 5 tasks × 6 = 180/,
    );
    expect(() => connectionPlan({ ...ecsProd.stack.settings, apiMaxTasks: 16 }, 5, 160, 190)).toThrow(/leave nothing for the tasks' proxy/);
    expect(connectionPlan({ ...ecsProd.stack.settings, apiMaxTasks: 14 }, 5, 160, 190).proxy).toEqual({ maxConnectionsPercent: 5 });
  });
});

describe('alarms, from the log lines the system writes', () => {
  it('filters on messages the messaging code really logs, and alarms to the SNS topic', () => {
    const source = readdirSync('src/shared/infrastructure/messaging', { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .map((f) => readFileSync(join('src/shared/infrastructure/messaging', f), 'utf8'))
      .join('\n');
    const filters = resources(ecsProd.json, 'AWS::Logs::MetricFilter').map(([, r]) => r['Properties'] as Json);
    expect(filters.length).toBe(Object.keys(LOG_METRICS).length * 2);
    for (const filter of filters) {
      const messages = [...(filter['FilterPattern'] as string).matchAll(/\$\.msg = "([^"]+)"/g)].map((m) => m[1]!);
      expect(messages.length).toBeGreaterThan(0);
      for (const message of messages) expect(source, message).toContain(`'${message}'`);
    }
    expect(source).toContain('oldestPendingAgeMs');
    const alarms = resources(ecsProd.json, 'AWS::CloudWatch::Alarm').map(([, r]) => r['Properties'] as Json);
    const names = alarms.map((a) => a['MetricName']).sort();
    expect(names).toEqual(
      [
        'CPUUtilization',
        'DatabaseConnections',
        'DeadLetters',
        'HTTPCode_ELB_5XX_Count',
        'HTTPCode_Target_5XX_Count',
        'LaunchBreakerOpened',
        'OldestPendingAgeMs',
        'TargetErrorCount',
        'TaskStartFailures',
      ].sort(),
    );
    for (const alarm of alarms) expect(alarm['AlarmActions']).toEqual([{ Ref: expect.stringMatching(/^AlarmsTopic/) }]);
    const deadLetters = alarms.find((a) => a['MetricName'] === 'DeadLetters')!;
    expect([deadLetters['Threshold'], deadLetters['ComparisonOperator']]).toEqual([0, 'GreaterThanThreshold']);
  });
});

describe('cdk-nag and CDK annotations', () => {
  it.each([
    ['EVENT_BUS=ecs prod', () => ecsProd],
    ['EVENT_BUS=bullmq dev', () => bullmqDev],
    ['Aurora, orchestration, HTTPS, imported VPC', () => auroraImported],
  ])('%s: no unacknowledged AwsSolutions error or warning, no CDK error or warning', (_name, get) => {
    const { stack, outdir } = get();
    // Every validation plugin's findings in the synthesis (CloudFormation Validate; cdk-nag's would fail it), warnings included.
    const synthesisReport = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: Array<{ pluginName: string; violations: Array<{ ruleName: string; severity: string }> }>;
    };
    expect(synthesisReport.pluginReports.map((p) => p.pluginName)).toContain('CloudFormation Validate');
    expect(synthesisReport.pluginReports.flatMap((p) => p.violations.map((v) => `${p.pluginName} ${v.ruleName} (${v.severity})`))).toEqual(
      [],
    );
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(
      report.violations.map((v) => `${v.ruleName} (${v.severity}) at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`),
    ).toEqual([]);
    const annotations = Annotations.fromStack(stack);
    expect(annotations.findError('*', Match.anyValue())).toEqual([]);
    expect(annotations.findWarning('*', Match.anyValue())).toEqual([]);
  });

  it('gives every acknowledgement a written reason', () => {
    for (const { stack } of [ecsProd, bullmqDev]) {
      const acknowledged = stack.node
        .findAll()
        .flatMap((c) =>
          c.node.metadata.filter((m) => m.type === 'aws:cdk:acknowledged-rules').map((m) => m.data as Record<string, string>),
        );
      expect(acknowledged.length).toBeGreaterThan(5);
      for (const entry of acknowledged) for (const [id, reason] of Object.entries(entry)) expect(reason.length, id).toBeGreaterThan(30);
    }
  });
});
