import { Stack, Token, Validations, type CfnElement } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type { IConstruct } from 'constructs';

/**
 * cdk-nag (AwsSolutionsChecks) runs on every synthesis; a finding fails it unless acknowledged
 * here or beside the construct, always with the reason. IAM5 findings name the resource as cdk-nag
 * prints it (`<AWS::Partition>`, `<LogicalId>` for a reference), so these helpers build the same text.
 */
export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

function arnPrefix(scope: IConstruct): string {
  const stack = Stack.of(scope);
  const account = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
  const partition = Token.isUnresolved(stack.partition) ? '<AWS::Partition>' : stack.partition;
  return `arn:${partition}:ecs:${stack.region}:${account}`;
}

function clusterRef(cluster: ecs.ICluster): string {
  const stack = Stack.of(cluster);
  return `<${stack.getLogicalId(cluster.node.defaultChild as CfnElement)}>`;
}

/** RunTask on `task-definition/<family>:*`: every revision of one family, never another family. */
export function acknowledgeFamilyWildcards(role: IConstruct, families: readonly string[]): void {
  for (const family of families)
    acknowledge(
      role,
      `AwsSolutions-IAM5[Resource::${arnPrefix(role)}:task-definition/${family}:*]`,
      `RunTask on every revision of ${family} only: a process of the previous release still launches its own pinned revision during a rollout; the cluster is pinned by condition`,
    );
}

/** Task-level actions on `task/<cluster>/*`: task ids are unknown before launch. */
export function acknowledgeClusterTasks(role: IConstruct, cluster: ecs.ICluster, actions: string): void {
  acknowledge(
    role,
    `AwsSolutions-IAM5[Resource::${arnPrefix(role)}:task/${clusterRef(cluster)}/*]`,
    `${actions} on the tasks of this cluster only: task ids do not exist before RunTask creates them`,
  );
}
