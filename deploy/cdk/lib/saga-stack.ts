import { CfnOutput, Stack, Token, type StackProps } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import type { LaunchSettings } from '../../../src/dev/deploy/ecs-task-definitions.js';
import { Alarms } from './alarms.js';
import { ApiService } from './api-service.js';
import { Cache } from './cache.js';
import { architectureOf, Compute } from './compute.js';
import { connectionPlan, type ConnectionPlan } from './connections.js';
import { Database } from './database.js';
import { grantLaunch, grantObserveLaunches } from './launch-permissions.js';
import { Migration } from './migration.js';
import { acknowledge } from './nag.js';
import { Network } from './network.js';
import type { DeploySettings } from './settings.js';
import { UseCaseTasks } from './use-case-tasks.js';
import type { ModuleInbox } from '../../../src/shared/contract/routing.js';
import { activeUseCases, ALL_INBOXES, generatedDefinitions, SWEEPER_FAMILY } from './use-cases.js';

/** ORDER_DEADLINE_MS's defaults (config.ts): 5 minutes on ECS (cold starts), 1 minute otherwise. */
const ORDER_DEADLINE_MS = { ecs: 300_000, bullmq: 60_000 } as const;

/**
 * The whole production system of one environment: network, PostgreSQL (and Redis with BullMQ),
 * the image, the API behind its load balancer, the use-case task definitions and their launch
 * permissions (ECS) or the always-on workers (BullMQ), the sweeper's schedule, the migration that
 * runs before the API's new version, and the alarms.
 */
export class SagaStack extends Stack {
  readonly settings: DeploySettings;
  readonly network: Network;
  readonly database: Database;
  readonly compute: Compute;
  readonly connections: ConnectionPlan;
  readonly api: ApiService;
  readonly useCaseTasks?: UseCaseTasks;
  readonly migration: Migration;
  readonly workers?: ecs.FargateService;

  constructor(
    scope: Construct,
    id: string,
    settings: DeploySettings,
    props: StackProps = {},
    /** The modules' inboxes: what is deployed (default: the monolith's; a test synthesizes larger ones). */
    readonly inboxes: readonly ModuleInbox[] = ALL_INBOXES,
  ) {
    super(scope, id, props);
    this.settings = settings;
    this.network = new Network(this, 'Network', settings);
    this.database = new Database(this, 'Database', this.network, settings);
    const limits = this.database.limits;
    this.connections = connectionPlan(settings, activeUseCases(settings.sagaStyle, inboxes).length, limits.budget, limits.maxConnections);
    const taskDatabaseUrl = this.connections.proxy
      ? this.database.addTaskProxy(this.network, this.connections.proxy.maxConnectionsPercent)
      : undefined;
    const cache = settings.eventBus === 'bullmq' ? new Cache(this, 'Cache', this.network, settings) : undefined;
    const secrets: Record<string, ecs.Secret> = { DATABASE_URL: ecs.Secret.fromSecretsManager(this.database.databaseUrl) };
    if (cache) secrets['REDIS_URL'] = ecs.Secret.fromSecretsManager(cache.redisUrl);
    const sweeperDef = generatedDefinitions(inboxes).find((d) => d.family === SWEEPER_FAMILY)!;
    this.compute = new Compute(this, 'Compute', this.network, settings, secrets, architectureOf(sweeperDef, settings.cpuArchitecture));
    const system = this.systemEnvironment();
    // Every process that exports spans (API, use-case tasks, sweeper, workers); the migration does not.
    const environment = { ...system, ...this.tracingEnvironment() };
    if (settings.eventBus === 'ecs')
      this.useCaseTasks = new UseCaseTasks(this, 'UseCases', this.compute, this.network, settings, environment, {
        inboxes,
        ...(taskDatabaseUrl ? { taskSecrets: { DATABASE_URL: ecs.Secret.fromSecretsManager(taskDatabaseUrl) } } : {}),
      });
    const pins: Record<string, string> = this.useCaseTasks ? { ECS_TASK_DEFINITION_REVISIONS: this.useCaseTasks.revisions } : {};
    this.api = new ApiService(this, 'Api', this.compute, this.network, settings, {
      environment: { ...environment, ...pins, ...this.httpEnvironment(), ...this.consoleEnvironment() },
      secrets: { ...secrets, ADMIN_TOKEN: ecs.Secret.fromSecretsManager(this.adminToken()), ...this.consoleSecrets() },
    });
    // The API launches every use case the saga style activates, and watches the launched tasks until
    // they stop (DescribeTasks every ECS_OBSERVE_INTERVAL_MS, StopTask past the start timeout: ADR 36).
    if (this.useCaseTasks) {
      grantLaunch(this.api.taskRole, this.compute, this.useCaseTasks.launchable(activeUseCases(settings.sagaStyle, inboxes)));
      grantObserveLaunches(this.api.taskRole, this.compute);
    }
    this.migration = new Migration(this, 'Migration', this.compute, this.network, settings, system, Object.keys(secrets));
    if (settings.eventBus === 'bullmq') this.workers = this.workerService(environment);
    this.releaseOrder();
    new Alarms(this, 'Alarms', settings, {
      logGroups: Object.values(this.compute.logGroups),
      loadBalancer: this.api.loadBalancer,
      targetGroup: this.api.targetGroup,
      databaseCpu: this.database.cpu,
      databaseConnections: this.database.connections,
      maxConnections: this.database.limits.maxConnections,
      orderDeadlineMs: ORDER_DEADLINE_MS[settings.eventBus],
      eventBus: settings.eventBus,
    });
    this.outputs();
  }

  /** What every process of the system is configured with (the API adds the pins). */
  private systemEnvironment(): Record<string, string> {
    const s = this.settings;
    const common: Record<string, string> = {
      NODE_ENV: 'production',
      // RDS refuses connections without TLS (rds.force_ssl). The module pools (MikroORM) rebuild
      // their connection from DATABASE_URL's parts and drop its sslmode, so node-postgres takes it
      // from PGSSLMODE. verify-full: the image trusts the RDS CA bundle (NODE_EXTRA_CA_CERTS, see the Dockerfile).
      PGSSLMODE: 'verify-full',
      EVENT_BUS: s.eventBus,
      SAGA_STYLE: s.sagaStyle,
      DB_POOL_SIZE: String(s.dbPoolSize),
      DB_CONNECTION_BUDGET: String(this.connections.budget),
      DB_LONG_LIVED_PROCESSES: String(this.connections.longLivedProcesses),
      TASK_CONCURRENCY: String(s.taskConcurrency),
      ...this.proxyEnvironment(),
    };
    if (s.eventBus !== 'ecs') return common;
    // Typed by the generator's LAUNCH_SETTINGS: a setting added there fails to compile here until it has a value.
    const launch: LaunchSettings = {
      SAGA_STYLE: s.sagaStyle,
      ECS_CLUSTER: this.compute.cluster.clusterName,
      ECS_SUBNETS: this.network.vpc.selectSubnets(this.network.taskSubnets).subnetIds.join(','),
      ECS_SECURITY_GROUPS: this.network.tasksSg.securityGroupId,
      ECS_LAUNCH_TYPE: 'FARGATE',
    };
    return { ...common, ...launch, ...(s.familyPrefix ? { ECS_TASK_DEFINITION_PREFIX: s.familyPrefix } : {}) };
  }

  /**
   * Behind RDS Proxy (ADR 34) the tasks' sessions are multiplexed, so nothing may keep state in a
   * session: no LISTEN (a task polls for its work, every 250 ms rather than the 25 ms of a task
   * that is never woken, which would be a query per task every 25 ms through the proxy) and no named
   * prepared statements. Every process gets the same settings: a launcher passes them on to the
   * tasks it starts. ECS_MAX_TASKS comes from the plan: the budget no longer bounds the tasks.
   */
  private proxyEnvironment(): Record<string, string> {
    if (!this.connections.proxy) return {};
    return {
      TASK_WAKE_NOTIFY: 'false',
      TASK_IDLE_POLL_MS: '250',
      DB_PREPARED_STATEMENTS: 'false',
      ECS_MAX_TASKS: String(this.connections.maxTasks),
    };
  }

  /**
   * OpenTelemetry (`otelEndpoint`, `otelSampleRatio`): the endpoint and the sampler, or nothing at
   * all, so without the context no process traces. A ratio below 1 samples new traces by trace id;
   * either way a trace continued from a caller (a task launched by the API) keeps the caller's
   * decision, so a saga is traced whole or not at all. The service names are the processes' own
   * defaults (`saga-api-server`, `saga-sweeper`, `saga-task-<use case>`...). No OTLP headers: an
   * endpoint that needs them belongs behind a collector that holds them (docs/deployment.md).
   */
  private tracingEnvironment(): Record<string, string> {
    const tracing = this.settings.tracing;
    if (!tracing) return {};
    const sampled = tracing.sampleRatio < 1;
    return {
      OTEL_EXPORTER_OTLP_ENDPOINT: tracing.endpoint,
      OTEL_TRACES_SAMPLER: sampled ? 'parentbased_traceidratio' : 'parentbased_always_on',
      ...(sampled ? { OTEL_TRACES_SAMPLER_ARG: String(tracing.sampleRatio) } : {}),
    };
  }

  /**
   * What only the API needs: its token issuer, and which peers are the ALB, the one proxy whose
   * X-Forwarded-For it believes for client addresses (rate limits, per-client bounds).
   */
  private httpEnvironment(): Record<string, string> {
    const { auth } = this.settings;
    return { TRUST_PROXY: this.albCidrs(), AUTH_ISSUER: auth.issuer, AUTH_AUDIENCE: auth.audience, AUTH_JWKS_URL: auth.jwksUrl };
  }

  /**
   * Where the ALB's nodes take their addresses: its subnets' CIDRs, or an imported VPC's own CIDR
   * (the app knows its subnets by id only). Not a hop count: an address that is not the ALB's
   * names only itself, should anything but the ALB ever reach the API's port.
   */
  private albCidrs(): string {
    const imported = this.settings.importedVpc;
    if (imported) return imported.vpcCidr;
    const cidrs = this.network.vpc.selectSubnets(this.network.publicSubnets).subnets.map((s) => s.ipv4CidrBlock);
    if (cidrs.some((c) => Token.isUnresolved(c)))
      throw new Error('the public subnets have no CIDR known at synthesis; TRUST_PROXY needs them');
    return cidrs.join(',');
  }

  /** Console sign-in (`consoleClientId`): the client and where browsers reach the console. */
  private consoleEnvironment(): Record<string, string> {
    const signIn = this.settings.consoleSignIn;
    if (!signIn) return {};
    return {
      CONSOLE_OIDC_CLIENT_ID: signIn.clientId,
      CONSOLE_PUBLIC_URL: signIn.publicUrl,
      ...(signIn.authorizationParams ? { CONSOLE_OIDC_AUTHORIZATION_PARAMS: signIn.authorizationParams } : {}),
    };
  }

  /** The session cookie's signing secret (generated) and the client's secret (given), as ECS secrets. */
  private consoleSecrets(): Record<string, ecs.Secret> {
    const signIn = this.settings.consoleSignIn;
    if (!signIn) return {};
    const sessionSecret = new secretsmanager.Secret(this, 'ConsoleSessionSecret', {
      description: 'CONSOLE_SESSION_SECRET of the saga API: signs the operator console session cookie',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
    });
    acknowledge(
      sessionSecret,
      'AwsSolutions-SMG4',
      'rotating it signs every operator out of the console (sessions last an hour by default): replace the secret and deploy again',
    );
    const secrets: Record<string, ecs.Secret> = { CONSOLE_SESSION_SECRET: ecs.Secret.fromSecretsManager(sessionSecret) };
    if (signIn.clientSecretArn) {
      const given = secretsmanager.Secret.fromSecretCompleteArn(this, 'ConsoleClientSecret', signIn.clientSecretArn);
      secrets['CONSOLE_OIDC_CLIENT_SECRET'] = ecs.Secret.fromSecretsManager(given);
    }
    return secrets;
  }

  /** The break-glass bearer token of the /admin routes (dead letters, delivery stats), generated. */
  private adminToken(): secretsmanager.Secret {
    const secret = new secretsmanager.Secret(this, 'AdminToken', {
      description: 'ADMIN_TOKEN of the saga API (/admin routes)',
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
    });
    acknowledge(
      secret,
      'AwsSolutions-SMG4',
      'a break-glass token operators read from Secrets Manager; rotate it by a new deployment (the API reads it at start)',
    );
    return secret;
  }

  /** EVENT_BUS=bullmq: `worker.js` processes around the clock (every use case, the relay, the sweeper's jobs). */
  private workerService(environment: Record<string, string>): ecs.FargateService {
    const sweeperDef = generatedDefinitions(this.inboxes).find((d) => d.family === SWEEPER_FAMILY)!;
    const taskRole = new iam.Role(this, 'WorkerTaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'ECS task role: the BullMQ workers (no AWS calls)',
    });
    const taskDefinition = this.compute.taskDefinition(this, 'WorkerTaskDefinition', sweeperDef, {
      family: `${this.settings.familyPrefix}saga-worker`,
      taskRole,
      logGroup: this.compute.logGroups.tasks,
      environment,
      extraSecrets: ['REDIS_URL'],
      command: ['node', 'dist/entrypoints/worker.js'],
    });
    return new ecs.FargateService(this, 'Workers', {
      cluster: this.compute.cluster,
      taskDefinition,
      desiredCount: this.settings.workerTasks,
      minHealthyPercent: 50,
      maxHealthyPercent: 200,
      vpcSubnets: this.network.taskSubnets,
      securityGroups: [this.network.tasksSg],
      assignPublicIp: false,
      circuitBreaker: { enable: true, rollback: true },
    });
  }

  /**
   * Task definitions first (they have no dependencies on the services), then the migration, then
   * the API (and the workers, and the sweeper's schedule): CloudFormation creates and updates
   * them in that order, and a failed migration fails the deployment before the API changes.
   */
  private releaseOrder(): void {
    const trigger = this.migration.trigger;
    trigger.executeAfter(this.database, this.network);
    const after = [this.api.service, ...(this.workers ? [this.workers] : []), ...(this.useCaseTasks ? [this.useCaseTasks.schedule] : [])];
    trigger.executeBefore(...after);
  }

  private outputs(): void {
    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'the API behind its load balancer' });
    new CfnOutput(this, 'ClusterName', { value: this.compute.cluster.clusterName });
    new CfnOutput(this, 'MigrationTaskDefinition', {
      value: this.migration.taskDefinition.taskDefinitionArn,
      description: 'the pinned migrate task',
    });
    if (this.useCaseTasks)
      new CfnOutput(this, 'TaskDefinitionRevisions', {
        value: this.useCaseTasks.revisions,
        description: 'ECS_TASK_DEFINITION_REVISIONS of this release',
      });
    new CfnOutput(this, 'ConnectionBudget', {
      value: `${this.connections.longLivedProcesses} long-lived x ${this.connections.perLongLived} + up to ${this.connections.maxTasks} tasks x ${this.connections.perTask} <= ${this.connections.budget}`,
      description: 'DB_CONNECTION_BUDGET arithmetic (docs/deployment.md, Connections)',
    });
  }
}
