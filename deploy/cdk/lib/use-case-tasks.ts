import { Fn } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type { ModuleInbox } from '../../../src/shared/contract/routing.js';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { Construct } from 'constructs';
import type { Compute } from './compute.js';
import { grantLaunch, grantObserveLaunches } from './launch-permissions.js';
import type { Network } from './network.js';
import type { DeploySettings } from './settings.js';
import {
  activeUseCases,
  generatedDefinitions,
  launchableBy,
  moduleOf,
  modules,
  SWEEPER_FAMILY,
  type GeneratedDefinition,
} from './use-cases.js';

/** `family:revision` of a registered definition: its ARN ends `task-definition/<family>:<revision>`. */
export function pinOf(taskDefinition: ecs.TaskDefinition): string {
  return Fn.select(1, Fn.split('/', taskDefinition.taskDefinitionArn));
}

export interface UseCaseTask {
  readonly useCase: string;
  readonly family: string;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly taskRole: iam.IRole;
}

/**
 * EVENT_BUS=ecs: one task definition per use case (from deploy/ecs's generator), each module's
 * tasks under a role that may launch only what they can cause (the use cases consuming what the
 * module writes, and its own successors), and the sweeper: its definition, pinned, started every
 * minute by EventBridge Scheduler with a role of its own.
 */
export class UseCaseTasks extends Construct {
  readonly tasks: readonly UseCaseTask[];
  readonly sweeper: ecs.FargateTaskDefinition;
  readonly schedule: scheduler.CfnSchedule;
  /** ECS_TASK_DEFINITION_REVISIONS: every use case's `family:revision`. */
  readonly revisions: string;

  constructor(
    scope: Construct,
    id: string,
    compute: Compute,
    network: Network,
    settings: DeploySettings,
    environment: Record<string, string>,
    composition: {
      /** The modules' inboxes: one task definition per use case they route. */
      readonly inboxes: readonly ModuleInbox[];
      /** Secrets the use-case tasks take from elsewhere (DATABASE_URL through RDS Proxy). */
      readonly taskSecrets?: Readonly<Record<string, ecs.Secret>>;
    },
  ) {
    super(scope, id);
    const { inboxes } = composition;
    const defs = generatedDefinitions(inboxes);
    const roles = new Map(modules(inboxes).map((m) => [m, this.taskRole(`${m}TaskRole`, `tasks of the ${m} module's use cases`)]));
    this.tasks = defs
      .filter((d): d is GeneratedDefinition & { useCase: string } => d.useCase !== undefined)
      .map((def) => {
        const taskRole = roles.get(moduleOf(def.useCase))!;
        const family = `${settings.familyPrefix}${def.family}`;
        const taskDefinition = compute.taskDefinition(this, def.family, def, {
          family,
          taskRole,
          logGroup: compute.logGroups.tasks,
          environment,
          ...(composition.taskSecrets ? { secretOverrides: composition.taskSecrets } : {}),
        });
        return { useCase: def.useCase, family, taskDefinition, taskRole };
      });
    for (const [module, role] of roles) grantLaunch(role, compute, this.launchable(launchableBy(module, settings.sagaStyle, inboxes)));
    this.revisions = Fn.join(
      ',',
      this.tasks.map((t) => pinOf(t.taskDefinition)),
    );
    const sweeperDef = defs.find((d) => d.family === SWEEPER_FAMILY)!;
    const sweeperRole = this.taskRole('SweeperTaskRole', 'the scheduled sweeper');
    this.sweeper = compute.taskDefinition(this, 'Sweeper', sweeperDef, {
      family: `${settings.familyPrefix}${sweeperDef.family}`,
      taskRole: sweeperRole,
      logGroup: compute.logGroups.tasks,
      // Started by the schedule, not by a launch: nothing overrides its environment, so it carries the pins itself.
      environment: { ...environment, ECS_TASK_DEFINITION_REVISIONS: this.revisions },
    });
    grantLaunch(sweeperRole, compute, this.launchable(activeUseCases(settings.sagaStyle, inboxes)));
    grantObserveLaunches(sweeperRole, compute);
    this.schedule = this.sweeperSchedule(compute, network, sweeperRole, settings);
  }

  /** The use-case tasks of the given use cases (those the saga style activates). */
  launchable(useCases: readonly string[]): UseCaseTask[] {
    return this.tasks.filter((t) => useCases.includes(t.useCase));
  }

  private taskRole(id: string, what: string): iam.Role {
    return new iam.Role(this, id, {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: `ECS task role: ${what}`,
    });
  }

  /**
   * Every minute, the pinned sweeper revision (the definition's ARN carries it), in the tasks'
   * subnets and security group. No retries: the next minute's run is the retry, and passes that
   * overlap are safe (docs/ecs.md, The sweeper).
   */
  private sweeperSchedule(compute: Compute, network: Network, sweeperRole: iam.IRole, settings: DeploySettings): scheduler.CfnSchedule {
    const role = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': compute.cluster.env.account } },
      }),
      description: 'EventBridge Scheduler starts the sweeper task',
    });
    grantLaunch(role, compute, [{ family: `${settings.familyPrefix}${SWEEPER_FAMILY}`, taskRole: sweeperRole }]);
    const schedule = new scheduler.CfnSchedule(this, 'SweeperSchedule', {
      description: 'saga sweeper: one pass a minute (relay leftovers, re-signal, expire leases, deadlines, purge)',
      scheduleExpression: 'rate(1 minute)',
      flexibleTimeWindow: { mode: 'OFF' },
      target: {
        arn: compute.cluster.clusterArn,
        roleArn: role.roleArn,
        retryPolicy: { maximumRetryAttempts: 0, maximumEventAgeInSeconds: 60 },
        ecsParameters: {
          taskDefinitionArn: this.sweeper.taskDefinitionArn,
          launchType: 'FARGATE',
          taskCount: 1,
          networkConfiguration: {
            awsvpcConfiguration: {
              subnets: network.vpc.selectSubnets(network.taskSubnets).subnetIds,
              securityGroups: [network.tasksSg.securityGroupId],
              assignPublicIp: 'DISABLED',
            },
          },
        },
      },
    });
    schedule.node.addDependency(role);
    return schedule;
  }
}
