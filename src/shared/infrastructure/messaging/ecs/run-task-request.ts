import type { RunTaskCommandInput } from '@aws-sdk/client-ecs';
import type { EcsLaunchSettings, LeaseDecision } from './launch-settings.js';
import { taskFamilyOf } from './task-family.js';

/** `family:revision` when the family is pinned (production), else the bare family (its latest ACTIVE revision). */
export function taskDefinitionOf(settings: EcsLaunchSettings, useCase: string): string {
  const family = `${settings.taskDefinitionPrefix}${taskFamilyOf(useCase)}`;
  const revision = settings.revisions.get(family);
  return revision === undefined ? family : `${family}:${revision}`;
}

/** `provider:weight[:base]` entries as RunTask's capacityProviderStrategy. */
function strategyOf(entries: readonly string[]): Array<{ capacityProvider: string; weight: number; base?: number }> {
  return entries.map((entry) => {
    const [provider = '', weight, base] = entry.split(':');
    return {
      capacityProvider: provider,
      weight: weight === undefined ? 1 : Number(weight),
      ...(base === undefined ? {} : { base: Number(base) }),
    };
  });
}

/**
 * The RunTask request of a launch decision: its attempt id is the clientToken, and its tags and
 * environment name the use case and the attempt. `traceparent`: the launch decision's span, which
 * the task's own span links to.
 */
export function runTaskInput(
  s: EcsLaunchSettings,
  useCase: string,
  decision: LeaseDecision,
  traceparent: string | undefined,
): RunTaskCommandInput {
  const family = `${s.taskDefinitionPrefix}${taskFamilyOf(useCase)}`;
  const strategy = strategyOf(s.capacityProviderStrategy);
  return {
    cluster: s.cluster,
    taskDefinition: taskDefinitionOf(s, useCase),
    count: decision.count,
    clientToken: decision.attemptId,
    startedBy: family.slice(0, 128),
    tags: [
      { key: 'use-case', value: useCase },
      { key: 'launch-attempt', value: decision.attemptId },
    ],
    propagateTags: 'TASK_DEFINITION',
    ...(strategy.length > 0 ? { capacityProviderStrategy: strategy } : s.launchType ? { launchType: s.launchType } : {}),
    ...(s.subnets.length > 0
      ? {
          networkConfiguration: {
            awsvpcConfiguration: {
              subnets: [...s.subnets],
              securityGroups: [...s.securityGroups],
              assignPublicIp: s.assignPublicIp ? 'ENABLED' : 'DISABLED',
            },
          },
        }
      : {}),
    // Ids and settings only, never payloads: ECS allows 8,192 characters of overrides.
    overrides: {
      containerOverrides: [
        {
          name: s.containerName,
          environment: [
            { name: 'TASK_USE_CASE', value: useCase },
            { name: 'TASK_LAUNCH_ATTEMPT', value: decision.attemptId },
            // The launch holds the task's share of the lease (ADR 36); without it (an older release's launcher) the lease row does.
            { name: 'TASK_LEASE_SHARE', value: 'launch' },
            // The task's own span links to this launch decision's (W3C Trace Context's variable name).
            ...(traceparent ? [{ name: 'TRACEPARENT', value: traceparent }] : []),
            ...Object.entries(s.propagatedEnvironment).map(([name, value]) => ({ name, value })),
          ],
        },
      ],
    },
  };
}
