import type { EntitySchema, MigrationObject } from '@mikro-orm/core';
import type { FastifyInstance } from 'fastify';
import type { Container, ContainerModule } from 'inversify';
import type { ModuleInbox } from '../../contract/routing.js';
import type { Subscription } from '../messaging/subscription.js';

/** Periodic work a module owns (deadlines, purges); the dev server schedules it, the sweeper task runs it. */
export interface ScheduledJob {
  readonly name: string;
  readonly intervalMs: number;
  run(): Promise<unknown>;
}

/**
 * Everything a composition root needs to host a module: its schema and mappings, its
 * migrations, its bindings, the message subscriptions it serves (matching the routes its
 * contract declares), its HTTP routes and its periodic jobs.
 */
export interface ModuleDefinition {
  readonly name: string;
  readonly inbox: ModuleInbox;
  readonly entities: readonly EntitySchema[];
  /** Loaded only to migrate: a task never pays for the migrator. */
  migrations(): Promise<readonly MigrationObject[]>;
  readonly bindings: ContainerModule;
  subscriptions(container: Container): Subscription[];
  registerRoutes?(app: FastifyInstance, container: Container): void;
  jobs?(container: Container): ScheduledJob[];
}
