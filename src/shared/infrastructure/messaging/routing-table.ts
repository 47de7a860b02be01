import type { ModuleInbox, SagaStyle } from '../../contract/routing.js';

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
