import { Duration, Stack, Validations } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as triggers from 'aws-cdk-lib/triggers';
import { Construct } from 'constructs';
import type { Compute } from './compute.js';
import { grantLaunch } from './launch-permissions.js';
import { acknowledgeClusterTasks } from './nag.js';
import type { Network } from './network.js';
import type { DeploySettings } from './settings.js';
import { migrationDefinition } from './use-cases.js';

/**
 * Runs the migrate task once per release and waits for exit 0: started with RunTask, then
 * DescribeTasks every 10 s until it stops. A throw fails the deployment, which rolls back before
 * the API's new version takes traffic. The AWS SDK is the Lambda runtime's own.
 */
const HANDLER = `
const { ECSClient, RunTaskCommand, DescribeTasksCommand } = require('@aws-sdk/client-ecs');
const ecs = new ECSClient({});
exports.handler = async () => {
  const { CLUSTER, TASK_DEFINITION, SUBNETS, SECURITY_GROUPS } = process.env;
  const started = await ecs.send(new RunTaskCommand({
    cluster: CLUSTER, taskDefinition: TASK_DEFINITION, launchType: 'FARGATE', count: 1, startedBy: 'deploy-migrate',
    networkConfiguration: { awsvpcConfiguration: { subnets: SUBNETS.split(','), securityGroups: SECURITY_GROUPS.split(','), assignPublicIp: 'DISABLED' } },
  }));
  const arn = started.tasks && started.tasks[0] && started.tasks[0].taskArn;
  if (!arn) throw new Error('the migration task did not start: ' + JSON.stringify(started.failures));
  console.log(JSON.stringify({ msg: 'migration started', taskArn: arn, taskDefinition: TASK_DEFINITION }));
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 10000));
    const { tasks } = await ecs.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: [arn] }));
    const task = tasks && tasks[0];
    if (!task || task.lastStatus !== 'STOPPED') continue;
    const code = task.containers && task.containers[0] && task.containers[0].exitCode;
    if (code === 0) return { taskArn: arn };
    throw new Error('migration ' + arn + ' stopped: exit code ' + code + ', ' + task.stopCode + ': ' + task.stoppedReason);
  }
};
`;

export class Migration extends Construct {
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly trigger: triggers.Trigger;

  constructor(
    scope: Construct,
    id: string,
    compute: Compute,
    network: Network,
    settings: DeploySettings,
    environment: Record<string, string>,
    secrets: string[],
  ) {
    super(scope, id);
    const def = migrationDefinition();
    const taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'ECS task role: the migration (no AWS calls)',
    });
    const family = `${settings.familyPrefix}${def.family}`;
    this.taskDefinition = compute.taskDefinition(this, 'TaskDefinition', def, {
      family,
      taskRole,
      logGroup: compute.logGroups.tasks,
      environment,
      extraSecrets: secrets.filter((s) => s !== 'DATABASE_URL'),
    });
    const handler = new lambda.Function(this, 'Handler', {
      description: 'runs the migrate task and waits for it (deploy-time trigger)',
      runtime: lambda.determineLatestNodeRuntime(this), // nodejs24.x, available in every region
      handler: 'index.handler',
      code: lambda.Code.fromInline(HANDLER),
      timeout: Duration.minutes(14),
      logGroup: new logs.LogGroup(this, 'HandlerLogs', { retention: settings.logRetentionDays as logs.RetentionDays }),
      environment: {
        CLUSTER: compute.cluster.clusterName,
        // The pinned revision: a new image is a new revision, so a new handler version, so the trigger runs again.
        TASK_DEFINITION: this.taskDefinition.taskDefinitionArn,
        SUBNETS: network.vpc.selectSubnets(network.taskSubnets).subnetIds.join(','),
        SECURITY_GROUPS: network.tasksSg.securityGroupId,
      },
    });
    grantLaunch(handler.role!, compute, [{ family, taskRole }]);
    handler.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'WaitForTheMigration',
        actions: ['ecs:DescribeTasks'],
        resources: [compute.clusterTasksArn],
        conditions: { ArnEquals: { 'ecs:cluster': compute.cluster.clusterArn } },
      }),
    );
    acknowledgeClusterTasks(handler, compute.cluster, 'ecs:DescribeTasks of the migration task');
    this.trigger = new triggers.Trigger(this, 'Trigger', { handler, timeout: Duration.minutes(14), executeOnHandlerChange: true });
    this.acknowledge(handler);
  }

  private acknowledge(handler: lambda.Function): void {
    Validations.of(handler).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: 'the AWS-managed basic execution policy only lets the function write its own logs',
    });
    Validations.of(handler).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'the runtime is what lambda.determineLatestNodeRuntime picks (nodejs24.x, in every region); cdk-nag asks for the newest runtime CDK knows (nodejs26.x), not yet available everywhere',
    });
    const provider = Stack.of(this).node.tryFindChild('AWSCDK.TriggerCustomResourceProviderCustomResourceProvider');
    if (provider)
      Validations.of(provider).acknowledge({
        id: 'AwsSolutions-L1',
        reason: "the trigger provider is the CDK-internal custom resource handler; its runtime is CDK's to move",
      });
  }
}
