import * as iam from 'aws-cdk-lib/aws-iam';
import type { Compute } from './compute.js';
import { acknowledgeClusterTasks, acknowledgeFamilyWildcards } from './nag.js';

/**
 * What a process needs to launch use-case tasks with RunTask, least privilege: RunTask on exactly
 * the families it may launch (every revision of each, so a process of the previous release can
 * still launch its pinned revisions during a rollout) and only in this cluster; PassRole on
 * exactly the roles those definitions name, only to ECS tasks; TagResource only for tasks being
 * created by RunTask (launches carry tags).
 */
export function grantLaunch(
  role: iam.IRole,
  compute: Compute,
  launched: ReadonlyArray<{ readonly family: string; readonly taskRole: iam.IRole }>,
): void {
  if (launched.length === 0) return;
  const cluster = { ArnEquals: { 'ecs:cluster': compute.cluster.clusterArn } };
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'LaunchUseCaseTasks',
      actions: ['ecs:RunTask'],
      resources: launched.map((l) => compute.familyArn(l.family)),
      conditions: cluster,
    }),
  );
  const passed = new Map<string, iam.IRole>([[compute.executionRole.node.path, compute.executionRole]]);
  for (const l of launched) passed.set(l.taskRole.node.path, l.taskRole);
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'PassTheLaunchedTasksRoles',
      actions: ['iam:PassRole'],
      resources: [...passed.values()].map((r) => r.roleArn),
      conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'TagTheTasksItLaunches',
      actions: ['ecs:TagResource'],
      resources: [compute.clusterTasksArn],
      conditions: { StringEquals: { 'ecs:CreateAction': 'RunTask' } },
    }),
  );
  acknowledgeFamilyWildcards(
    role,
    launched.map((l) => l.family),
  );
  acknowledgeClusterTasks(role, compute.cluster, 'ecs:TagResource (only while RunTask creates them)');
}

/**
 * The maintenance pass (the sweeper) describes the tasks of unresolved launches and stops those
 * that did not start in time: only tasks of this cluster.
 */
export function grantObserveLaunches(role: iam.IRole, compute: Compute): void {
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'ObserveAndStopLaunchedTasks',
      actions: ['ecs:DescribeTasks', 'ecs:StopTask'],
      resources: [compute.clusterTasksArn],
      conditions: { ArnEquals: { 'ecs:cluster': compute.cluster.clusterArn } },
    }),
  );
  acknowledgeClusterTasks(role, compute.cluster, 'ecs:DescribeTasks and ecs:StopTask');
}
