import type { EntitySchema, MigrationObject } from '@mikro-orm/core';
import type { FastifyInstance } from 'fastify';
import type { Container, ContainerModule } from 'inversify';
import type { ModuleInbox } from '../../contract/routing.js';
import type { MessageDefinition } from '../../kernel/index.js';
import type { ScopeDeclarations } from '../../contract/scopes.js';
import type { Subscription } from '../messaging/subscription.js';
import type { ModuleMetric } from '../observability/module-metric.js';
import type { ModuleConsistency } from '../operations/consistency-check.js';
import type { ModuleSagas } from '../operations/saga-versions.js';
import type { SagaViewPort } from '../operations/saga-view.port.js';

/** Periodic work a module owns (deadlines, purges); the dev server schedules it, the sweeper task runs it. */
export interface ScheduledJob {
  readonly name: string;
  readonly intervalMs: number;
  run(): Promise<unknown>;
}

/**
 * Everything a module brings, declared by the module and discovered by the platform, which names
 * no module (principle 7, ADR 33): its schema, messages and routes (the contract's inbox), its
 * mappings and migrations (the platform adds its messaging tables), its bindings, the message
 * subscriptions it serves (matching the routes its contract declares), its HTTP routes and the
 * scopes they require, its periodic jobs, the operator's view of the sagas it runs, the metrics it
 * exports and the invariants it keeps.
 */
export interface ModuleDefinition {
  readonly name: string;
  readonly inbox: ModuleInbox;
  readonly entities: readonly EntitySchema[];
  /** Loaded only to migrate: a task never pays for the migrator. Only the module's own tables: the platform adds its messaging tables. */
  migrations(): Promise<readonly MigrationObject[]>;
  readonly bindings: ContainerModule;
  subscriptions(container: Container): Subscription[];
  registerRoutes?(app: FastifyInstance, container: Container): void;
  /** The scopes its routes require (its contract's declarations); the platform adds its own `admin`. */
  readonly scopes?: ScopeDeclarations;
  jobs?(container: Container): ScheduledJob[];
  /** The operator console's view of the sagas this module runs (their id is their messages' correlation id). */
  sagaView?(container: Container): SagaViewPort;
  /** The metrics it exports, read from its own tables at scrape time. */
  metrics?(container: Container): readonly ModuleMetric[];
  /** Its invariants, each reading its own schema only (`npm run check:consistency`). */
  readonly consistency?: ModuleConsistency;
  /** The message types its contract defines: their schemas are locked by `npm run contracts:check` (ADR 37). */
  readonly messages?: readonly MessageDefinition<unknown>[];
  /** Its orchestrated sagas: the definition versions it handles and its instances by version (ADR 37). */
  readonly sagas?: ModuleSagas;
}
