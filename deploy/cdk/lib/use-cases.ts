import { generateTaskDefinitions, migrationTaskDefinition, type TaskDefinition } from '../../../src/dev/deploy/ecs-task-definitions.js';
import { ALL_INBOXES as DECLARED_INBOXES } from '../../../src/entrypoints/composition/inboxes.js';
import type { ModuleInbox } from '../../../src/shared/contract/routing.js';
import { taskFamilyOf } from '../../../src/shared/infrastructure/messaging/ecs/task-family.js';
import type { SagaStyle } from './settings.js';

/** The monolith's modules, by their inboxes: what the app deploys unless given another composition. */
export const ALL_INBOXES: readonly ModuleInbox[] = DECLARED_INBOXES;

/**
 * What the app knows about the use cases, all derived from the one registry the code declares
 * (the modules' inboxes, through the task definition generator that writes deploy/ecs/*.json):
 * never a second hand-written list.
 */
export interface ContainerShape {
  readonly name: string;
  readonly command: string[];
  readonly stopTimeout: number;
  readonly environment: Array<{ name: string; value: string }>;
  readonly secrets: Array<{ name: string; valueFrom: string }>;
}

export interface GeneratedDefinition {
  /** The family in deploy/ecs, without the deployment's prefix. */
  readonly family: string;
  /** `customer.reserve-credit`; undefined for the sweeper and the migration. */
  readonly useCase?: string;
  readonly cpu: string;
  readonly memory: string;
  readonly runtimePlatform: { operatingSystemFamily: string; cpuArchitecture: string };
  readonly container: ContainerShape;
}

function shape(def: TaskDefinition): GeneratedDefinition {
  const container = (def['containerDefinitions'] as ContainerShape[])[0]!;
  const useCase = container.environment.find((e) => e.name === 'TASK_USE_CASE')?.value;
  return {
    family: def.family,
    ...(useCase ? { useCase } : {}),
    cpu: def['cpu'] as string,
    memory: def['memory'] as string,
    runtimePlatform: def['runtimePlatform'] as GeneratedDefinition['runtimePlatform'],
    container,
  };
}

/** Every generated definition: one per use case of the composition's inboxes, then the sweeper (deploy/ecs/*.json). */
export function generatedDefinitions(inboxes: readonly ModuleInbox[] = ALL_INBOXES): GeneratedDefinition[] {
  return generateTaskDefinitions(inboxes).map(shape);
}

export function migrationDefinition(): GeneratedDefinition {
  return shape(migrationTaskDefinition());
}

export const SWEEPER_FAMILY = 'saga-sweeper';

export function moduleOf(useCase: string): string {
  return useCase.split('.')[0]!;
}

/** The use cases some route activates under the saga style: the only ones anything launches. */
export function activeUseCases(style: SagaStyle, inboxes: readonly ModuleInbox[] = ALL_INBOXES): string[] {
  const routes = inboxes.flatMap((inbox) => inbox.routes).filter((r) => r.styles.includes(style));
  return [...new Set(routes.map((r) => r.useCase))].sort();
}

/**
 * The use cases a module's tasks may launch under a saga style: those a route activates for a
 * message type the module publishes (its contract declares them, and its outbox refuses any other;
 * its tasks relay their own outbox), and the module's own (a task that stops with work left
 * launches its successor). The ECS task role of each module is scoped to these.
 */
export function launchableBy(module: string, style: SagaStyle, inboxes: readonly ModuleInbox[] = ALL_INBOXES): string[] {
  const own = inboxes.find((i) => i.module === module);
  if (!own) throw new Error(`no module ${module} among the inboxes`);
  const published = new Set(own.publishes);
  const launched = new Set<string>();
  for (const inbox of inboxes)
    for (const route of inbox.routes) {
      if (!route.styles.includes(style)) continue;
      if (inbox.module === module || published.has(route.messageType)) launched.add(route.useCase);
    }
  return [...launched].sort();
}

export function modules(inboxes: readonly ModuleInbox[] = ALL_INBOXES): string[] {
  return inboxes.map((i) => i.module).sort();
}

export { taskFamilyOf };
