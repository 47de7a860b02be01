/**
 * The contract lock (ADR 37): what the code promises to messages in flight and to processes not
 * yet redeployed, written to `contracts.lock.json` by `npm run contracts:update` and compared with
 * the code by `npm run contracts:check`. One entry per message type (its kind and the JSON Schema
 * of its payload, from the zod contract), per route (under each saga style: the message type, the
 * use case and its delivery key) and per orchestrated saga definition version (its initial state,
 * states and transitions, one line each so that a diff reads as the steps that changed).
 */
import { z } from 'zod';
import type { ModuleInbox } from '../../src/shared/contract/routing.js';
import type { MessageDefinition, SagaDefinition } from '../../src/shared/kernel/index.js';

export type JsonSchema = { readonly [keyword: string]: unknown };

export interface LockedMessage {
  readonly kind: string;
  readonly schema: JsonSchema;
}

export interface LockedRoute {
  readonly useCase: string;
  readonly key: string;
}

export interface LockedSagaVersion {
  readonly initial: string;
  readonly states: readonly string[];
  /** `FROM --input--> TO / action`, sorted. */
  readonly transitions: readonly string[];
}

export interface ContractLock {
  readonly messages: Readonly<Record<string, LockedMessage>>;
  /** style → message type → the use cases it is delivered to. */
  readonly routes: Readonly<Record<string, Readonly<Record<string, readonly LockedRoute[]>>>>;
  /** saga → definition version → its steps. */
  readonly sagas: Readonly<Record<string, Readonly<Record<string, LockedSagaVersion>>>>;
}

export interface Contracts {
  readonly messages: readonly MessageDefinition<unknown>[];
  readonly inboxes: readonly ModuleInbox[];
  readonly sagas: readonly SagaDefinition[];
}

const byKey = <T>(entries: Iterable<readonly [string, T]>): Record<string, T> =>
  Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** The JSON Schema a consumer validates a payload against (zod's input side: unknown fields are dropped, not refused). */
export function payloadSchemaOf(definition: MessageDefinition<unknown>): JsonSchema {
  if (!(definition.schema instanceof z.ZodType)) {
    throw new Error(`${definition.type} was not defined with a zod schema (defineMessage): the contract lock cannot read it`);
  }
  const { $schema: _dialect, ...schema } = z.toJSONSchema(definition.schema, { io: 'input', unrepresentable: 'throw' });
  return schema;
}

export function transitionLine(t: { from: string; on: string; to: string; action: string }): string {
  return `${t.from} --${t.on}--> ${t.to} / ${t.action}`;
}

export function lockOf(contracts: Contracts): ContractLock {
  const messages = new Map<string, LockedMessage>();
  for (const m of contracts.messages) {
    if (messages.has(m.type)) throw new Error(`${m.type} is defined twice`);
    messages.set(m.type, { kind: m.kind, schema: payloadSchemaOf(m) });
  }
  for (const inbox of contracts.inboxes) {
    const used = [...inbox.publishes, ...inbox.routes.map((r) => r.messageType)];
    const undefinedType = used.find((t) => !messages.has(t));
    if (undefinedType) {
      throw new Error(`${undefinedType} is published or routed by ${inbox.module} but no module lists its definition in \`messages\``);
    }
  }
  const routes = new Map<string, Map<string, LockedRoute[]>>();
  for (const route of contracts.inboxes.flatMap((i) => i.routes)) {
    for (const style of route.styles) {
      const ofStyle = routes.get(style) ?? new Map<string, LockedRoute[]>();
      routes.set(style, ofStyle);
      ofStyle.set(route.messageType, [...(ofStyle.get(route.messageType) ?? []), { useCase: route.useCase, key: route.key }]);
    }
  }
  const sagas = new Map<string, Map<string, LockedSagaVersion>>();
  for (const d of contracts.sagas) {
    const versions = sagas.get(d.saga) ?? new Map<string, LockedSagaVersion>();
    sagas.set(d.saga, versions);
    if (versions.has(String(d.version))) throw new Error(`saga ${d.saga} defines version ${d.version} twice`);
    versions.set(String(d.version), {
      initial: d.initial,
      states: [...d.states].sort(),
      transitions: d.transitions.map(transitionLine).sort(),
    });
  }
  return {
    messages: byKey(messages),
    routes: byKey(
      [...routes].map(([style, types]) => [
        style,
        byKey([...types].map(([type, list]) => [type, [...list].sort((a, b) => a.useCase.localeCompare(b.useCase))] as const)),
      ]),
    ),
    sagas: byKey([...sagas].map(([saga, versions]) => [saga, byKey(versions)] as const)),
  };
}

/** The lock file's text: stable key order and one value per line, so a change is a readable diff. */
export function serializeLock(lock: ContractLock): string {
  return `${JSON.stringify(lock, null, 2)}\n`;
}
