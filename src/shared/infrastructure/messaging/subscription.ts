import type { ModuleInbox, SagaStyle } from '../../contract/routing.js';
import type { Envelope, MessageDefinition, MessageHandler } from '../../kernel/index.js';

/** A use case that runs when a message of `message.type` reaches its module. */
export interface Subscription {
  readonly useCase: string;
  readonly message: MessageDefinition<unknown>;
  readonly styles: readonly SagaStyle[];
  readonly handle: (message: Envelope) => Promise<void>;
}

/** A handler bound to the contract message whose type it handles; the inbox validates the payload before calling it. */
export interface Handling<T extends string = string> {
  readonly message: MessageDefinition<unknown, T>;
  readonly handle: (message: Envelope) => Promise<void>;
}

export function handledBy<P, T extends string>(message: MessageDefinition<P, T>, handler: MessageHandler<P>): Handling<T> {
  return { message, handle: (envelope) => handler.handle(envelope as Envelope<P>) };
}

type RouteOf<I extends ModuleInbox> = I['routes'][number];
type UseCaseOf<I extends ModuleInbox> = RouteOf<I>['useCase'];
type MessageTypeOf<I extends ModuleInbox, U> = Extract<RouteOf<I>, { readonly useCase: U }>['messageType'];

/**
 * One handler for each (use case, message type) the contract's inbox routes, nothing else: a
 * missing or an extra one is a compile error, and so is a handler of another message type.
 */
export type InboxHandlers<I extends ModuleInbox> = {
  readonly [U in UseCaseOf<I>]: { readonly [T in MessageTypeOf<I, U>]: Handling<T> };
};

/**
 * A module's subscriptions, from its contract's inbox (declared `as const satisfies ModuleInbox`,
 * so its routes are literal types) and one handler per route: the route is declared once, in the
 * contract, and the styles under which it is active come from there.
 */
export function subscriptionsOf<const I extends ModuleInbox>(
  inbox: I,
  handlers: string extends UseCaseOf<I> ? 'declare the inbox `as const satisfies ModuleInbox`' : InboxHandlers<I>,
): Subscription[] {
  const byUseCase = handlers as unknown as Readonly<Record<string, Readonly<Record<string, Handling | undefined>> | undefined>>;
  return inbox.routes.map((route) => {
    const handling = byUseCase[route.useCase]?.[route.messageType];
    if (!handling) throw new Error(`module ${inbox.module}: no handler for ${route.useCase} <- ${route.messageType}`);
    return { useCase: route.useCase, message: handling.message, styles: route.styles, handle: handling.handle };
  });
}

export interface Delivery {
  readonly useCase: string;
  readonly messageId: string;
}

export interface ConsumerAddress {
  readonly useCase: string;
  readonly schema: string;
  /** The payload field holding the delivery's key (the aggregate the handler locks). */
  readonly key: string;
}

/**
 * Which use cases (and inboxes) receive each message type under the configured saga style.
 * Built from every module's contract, so any process can route what it writes.
 */
export class RoutingTable {
  private readonly byType = new Map<string, ConsumerAddress[]>();
  private readonly schemaByUseCase = new Map<string, string>();
  private readonly waiting = new Map<string, string[]>();

  constructor(
    inboxes: readonly ModuleInbox[],
    readonly style: SagaStyle,
  ) {
    for (const inbox of inboxes) {
      for (const route of inbox.routes) {
        const known = this.schemaByUseCase.get(route.useCase);
        if (known && known !== inbox.schema) {
          throw new Error(`use case ${route.useCase} is declared by two modules (${known}, ${inbox.schema})`);
        }
        this.schemaByUseCase.set(route.useCase, inbox.schema);
        if (!route.styles.includes(style)) continue;
        if (route.unblocksSaga) this.waiting.set(route.useCase, [...(this.waiting.get(route.useCase) ?? []), route.messageType]);
        const consumers = this.byType.get(route.messageType) ?? [];
        if (!consumers.some((c) => c.useCase === route.useCase))
          consumers.push({ useCase: route.useCase, schema: inbox.schema, key: route.key });
        this.byType.set(route.messageType, consumers);
      }
    }
  }

  consumersOf(messageType: string): readonly ConsumerAddress[] {
    return this.byType.get(messageType) ?? [];
  }

  /** Every (message type, consumer) pair under the configured style. */
  routes(): Array<ConsumerAddress & { readonly messageType: string }> {
    return [...this.byType].flatMap(([messageType, consumers]) => consumers.map((c) => ({ messageType, ...c })));
  }

  schemaOf(useCase: string): string {
    const schema = this.schemaByUseCase.get(useCase);
    if (!schema) throw new Error(`unknown use case ${useCase}`);
    return schema;
  }

  /** Per use case, the message types of its active routes a saga waits on (`unblocksSaga`): never dead-lettered for a start failure. */
  waitingMessageTypes(): ReadonlyMap<string, readonly string[]> {
    return this.waiting;
  }

  /** Use cases active under the configured style. */
  activeUseCases(): string[] {
    return [...new Set([...this.byType.values()].flat().map((c) => c.useCase))].sort();
  }

  allUseCases(): string[] {
    return [...this.schemaByUseCase.keys()].sort();
  }
}

/** Fails fast when a module's subscriptions and its contract's declared routes disagree. */
export function assertSubscriptionsMatchInbox(inbox: ModuleInbox, subscriptions: readonly Subscription[]): void {
  const key = (useCase: string, type: string, styles: readonly string[]) => `${useCase} <- ${type} [${[...styles].sort().join(',')}]`;
  const declared = new Set(inbox.routes.map((r) => key(r.useCase, r.messageType, r.styles)));
  const subscribed = new Set(subscriptions.map((s) => key(s.useCase, s.message.type, s.styles)));
  const missing = [...declared].filter((k) => !subscribed.has(k));
  const undeclared = [...subscribed].filter((k) => !declared.has(k));
  if (missing.length > 0 || undeclared.length > 0) {
    throw new Error(
      `module ${inbox.module}: subscriptions and contract routes differ.` +
        (missing.length ? ` Declared without a handler: ${missing.join('; ')}.` : '') +
        (undeclared.length ? ` Handled but not declared in the contract: ${undeclared.join('; ')}.` : ''),
    );
  }
}
