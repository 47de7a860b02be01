import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CfnDeletionPolicy, Duration, RemovalPolicy, Stack, type CfnResource } from 'aws-cdk-lib';
import * as ecrAssets from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledge } from './nag.js';
import type { Network } from './network.js';
import type { DeploySettings } from './settings.js';
import type { GeneratedDefinition } from './use-cases.js';

/** The repository root: the Docker build context (limited by its .dockerignore). */
export const REPOSITORY_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** The image is built for the architecture the task definitions declare, whatever machine runs `cdk deploy`. */
const PLATFORM_OF_ARCHITECTURE: Readonly<Record<string, { platform: ecrAssets.Platform; cpu: ecs.CpuArchitecture }>> = {
  X86_64: { platform: ecrAssets.Platform.LINUX_AMD64, cpu: ecs.CpuArchitecture.X86_64 },
  ARM64: { platform: ecrAssets.Platform.LINUX_ARM64, cpu: ecs.CpuArchitecture.ARM64 },
};

/**
 * The architecture a definition runs on: the deployment's `cpuArchitecture` when set (ARM64,
 * Graviton, costs about 20 % less: docs/cost.md), else what the generated definition declares.
 */
export function architectureOf(
  def: GeneratedDefinition,
  override?: DeploySettings['cpuArchitecture'],
): { platform: ecrAssets.Platform; cpu: ecs.CpuArchitecture } {
  const found = PLATFORM_OF_ARCHITECTURE[override ?? def.runtimePlatform.cpuArchitecture];
  if (!found || def.runtimePlatform.operatingSystemFamily !== 'LINUX')
    throw new Error(`${def.family}: unsupported runtimePlatform ${JSON.stringify(def.runtimePlatform)}`);
  return found;
}

/** ECS2 flags any plain environment variable: these are settings, and every secret is an ECS secret. */
export function acknowledgeSettingsInEnvironment(taskDefinition: ecs.TaskDefinition): void {
  acknowledge(
    taskDefinition,
    'AwsSolutions-ECS2',
    'the environment holds settings only (bus, style, cluster, subnets, budgets, pins, the trace endpoint and sampler); DATABASE_URL and REDIS_URL come from Secrets Manager as ECS secrets',
  );
}

export interface TaskDefinitionOptions {
  /** The family to register (with the deployment's prefix). */
  readonly family: string;
  readonly taskRole: iam.IRole;
  readonly logGroup: logs.ILogGroup;
  /** Added to (and overriding) the generated environment. */
  readonly environment: Readonly<Record<string, string>>;
  /** Extra secrets beyond those the generated definition names. */
  readonly extraSecrets?: readonly string[];
  /** Secrets this definition takes from elsewhere than the deployment's (a use-case task's DATABASE_URL through RDS Proxy). */
  readonly secretOverrides?: Readonly<Record<string, ecs.Secret>>;
  /** Overrides the generated command (the always-on worker). */
  readonly command?: string[];
}

/**
 * The cluster, the images (one build: the runtime stage, and the use-case tasks' slim stage), the log groups and the execution role every task definition shares,
 * and the way a generated definition (deploy/ecs) becomes a registered one.
 */
export class Compute extends Construct {
  readonly cluster: ecs.Cluster;
  readonly image: ecs.ContainerImage;
  /** The Dockerfile's `task` stage: what a definition whose command runs a bundle (dist/tasks/) pulls. */
  readonly taskImage: ecs.ContainerImage;
  readonly executionRole: iam.Role;
  /** The generated definitions' architecture, which the image is built for: the API runs it too. */
  readonly cpuArchitecture: ecs.CpuArchitecture;
  readonly logGroups: { readonly api: logs.LogGroup; readonly tasks: logs.LogGroup };

  constructor(
    scope: Construct,
    id: string,
    network: Network,
    private readonly settings: DeploySettings,
    private readonly secrets: Readonly<Record<string, ecs.Secret>>,
    architecture: { platform: ecrAssets.Platform; cpu: ecs.CpuArchitecture },
  ) {
    super(scope, id);
    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: network.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
      enableFargateCapacityProviders: true,
    });
    if (!existsSync(join(REPOSITORY_ROOT, 'Dockerfile'))) throw new Error(`no Dockerfile in ${REPOSITORY_ROOT}`);
    // The build context is the repository root; its .dockerignore (read by the asset) keeps out
    // node_modules, .data, .git, dist, deploy/ and cdk.out, so fingerprinting and staging stay small.
    const asset = new ecrAssets.DockerImageAsset(this, 'Image', { directory: REPOSITORY_ROOT, platform: architecture.platform });
    // The use-case tasks' own stage: their bundles without node_modules, pulled at every cold start.
    const taskAsset = new ecrAssets.DockerImageAsset(this, 'TaskImage', {
      directory: REPOSITORY_ROOT,
      platform: architecture.platform,
      target: 'task',
    });
    this.cpuArchitecture = architecture.cpu;
    this.image = ecs.ContainerImage.fromDockerImageAsset(asset);
    this.taskImage = ecs.ContainerImage.fromDockerImageAsset(taskAsset);
    const retention = settings.logRetentionDays as logs.RetentionDays;
    const group = (name: string) =>
      new logs.LogGroup(this, `${name[0]!.toUpperCase()}${name.slice(1)}Logs`, {
        logGroupName: `/saga/${settings.envName}/${name}`,
        retention,
        removalPolicy: settings.envName === 'prod' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      });
    this.logGroups = { api: group('api'), tasks: group('tasks') };
    this.executionRole = new iam.Role(this, 'ExecutionRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'ECS pulls the image, reads the secrets and writes the logs of every saga task',
    });
    acknowledge(
      this.executionRole,
      'AwsSolutions-IAM5[Resource::*]',
      'ecr:GetAuthorizationToken has no resource-level permissions; the image pull itself is scoped to the asset repository',
    );
  }

  /** A generated definition, registered as it is, plus the deployment's settings and secrets. */
  taskDefinition(scope: Construct, id: string, def: GeneratedDefinition, options: TaskDefinitionOptions): ecs.FargateTaskDefinition {
    const arch = architectureOf(def, this.settings.cpuArchitecture);
    const taskDefinition = new ecs.FargateTaskDefinition(scope, id, {
      family: options.family,
      cpu: Number(def.cpu),
      memoryLimitMiB: Number(def.memory),
      runtimePlatform: { cpuArchitecture: arch.cpu, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
      taskRole: options.taskRole,
      executionRole: this.executionRole,
    });
    const environment = Object.fromEntries(def.container.environment.map((e) => [e.name, e.value]));
    const secretNames = [...def.container.secrets.map((s) => s.name), ...(options.extraSecrets ?? [])];
    const command = options.command ?? def.container.command;
    taskDefinition.addContainer(def.container.name, {
      image: command[1]?.startsWith('dist/tasks/') ? this.taskImage : this.image,
      command,
      essential: true,
      stopTimeout: Duration.seconds(def.container.stopTimeout),
      environment: { ...environment, ...options.environment },
      secrets: Object.fromEntries(secretNames.map((name) => [name, options.secretOverrides?.[name] ?? this.secret(name)])),
      logging: ecs.LogDrivers.awsLogs({ logGroup: options.logGroup, streamPrefix: def.family }),
    });
    acknowledgeSettingsInEnvironment(taskDefinition);
    // A new revision does not deregister the previous one: processes of the previous release still
    // launch their own pinned revisions while the rollout lasts (deregister them afterwards).
    (taskDefinition.node.defaultChild as CfnResource).cfnOptions.updateReplacePolicy = CfnDeletionPolicy.RETAIN;
    acknowledge(
      taskDefinition,
      'CloudFormation-Validate::W3011',
      'only a replacement keeps the previous revision ACTIVE (a rollout still launches it); deleting the stack deregisters every revision, as intended',
    );
    return taskDefinition;
  }

  private secret(name: string): ecs.Secret {
    const secret = this.secrets[name];
    if (!secret) throw new Error(`no secret for ${name} in this deployment`);
    return secret;
  }

  /** `arn:aws:ecs:<region>:<account>:task-definition/<family>:*`: every revision of one family. */
  familyArn(family: string): string {
    return Stack.of(this).formatArn({ service: 'ecs', resource: 'task-definition', resourceName: `${family}:*` });
  }

  /** `arn:aws:ecs:<region>:<account>:task/<cluster>/*`: the tasks of this cluster. */
  get clusterTasksArn(): string {
    return Stack.of(this).formatArn({ service: 'ecs', resource: 'task', resourceName: `${this.cluster.clusterName}/*` });
  }
}
