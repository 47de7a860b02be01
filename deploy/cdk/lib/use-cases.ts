import { generateTaskDefinitions, migrationTaskDefinition, type TaskDefinition } from '../../../src/entrypoints/ecs-task-definitions.js';
import { ALL_INBOXES as DECLARED_INBOXES } from '../../../src/entrypoints/tasks/inboxes.js';
import type { ModuleInbox } from '../../../src/shared/contract/routing.js';
import { taskFamilyOf } from '../../../src/shared/infrastructure/messaging/ecs/task-family.js';
import type { SagaStyle } from './settings.js';

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

/** Every generated definition: one per use case, then the sweeper (deploy/ecs/*.json). */
export function generatedDefinitions(): GeneratedDefinition[] {
  return generateTaskDefinitions().map(shape);
}

export function migrationDefinition(): GeneratedDefinition {
  return shape(migrationTaskDefinition());
}

const ALL_INBOXES: readonly ModuleInbox[] = DECLARED_INBOXES;

export const SWEEPER_FAMILY = 'saga-sweeper';

export function moduleOf(useCase: string): string {
  return useCase.split('.')[0]!;
}

/** The use cases some route activates under the saga style: the only ones anything launches. */
export function activeUseCases(style: SagaStyle): string[] {
  const routes = ALL_INBOXES.flatMap((inbox) => inbox.routes).filter((r) => r.styles.includes(style));
  return [...new Set(routes.map((r) => r.useCase))].sort();
}

/**
 * Which modules may write a message type: an event is published by the module that names it
 * (`order.created.v1` → order); a command to a module (`customer.reserve-credit.v1` in the
 * customer inbox) is sent by some other module, so every other one may.
 */
function writersOf(messageType: string, consumer: string): string[] {
  const owner = messageType.split('.')[0]!;
  const modules = ALL_INBOXES.map((i) => i.module);
  return owner === consumer ? modules.filter((m) => m !== consumer) : [owner];
}

/**
 * The use cases a module's tasks may launch under a saga style: those that consume a message the
 * module writes (its tasks relay their own outbox), and the module's own (a task that stops with
 * work left launches its successor). The ECS task role of each module is scoped to these.
 */
export function launchableBy(module: string, style: SagaStyle): string[] {
  const active = new Set(activeUseCases(style));
  const launched = new Set<string>();
  for (const inbox of ALL_INBOXES)
    for (const route of inbox.routes) {
      if (!active.has(route.useCase)) continue;
      if (inbox.module === module || writersOf(route.messageType, inbox.module).includes(module)) launched.add(route.useCase);
    }
  return [...launched].sort();
}

export function modules(): string[] {
  return ALL_INBOXES.map((i) => i.module).sort();
}

export { taskFamilyOf };
