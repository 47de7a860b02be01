/**
 * Golden histories (ADR 37): the envelopes each saga path delivered, what every step emitted and
 * where the saga ended, recorded once and replayed in CI against the current handlers on a fresh
 * database. A history is a transcript of steps: the HTTP actions of the path (their parameters
 * and what they emitted) and the deliveries (the recorded envelope, the use case it went to and
 * what its handler emitted). Replaying runs the actions again, delivers the *recorded* envelopes
 * (not the ones the current code writes: those are what a release in flight would hand the next
 * one) and compares the new transcript with the recorded one. Ids, times and trace ids are
 * replaced by placeholders (`<order>`, `<message-3>`), so a diff of a history shows only behaviour.
 */
import { uuidv7, type Envelope } from '../../src/shared/kernel/index.js';
import type { ModuleInbox, SagaStyle } from '../../src/shared/contract/routing.js';
import { sql, type TestSystem } from './system.js';

export type Action =
  | { readonly do: 'register-customer'; readonly creditLimit: number }
  | { readonly do: 'place-order'; readonly total: number; readonly customer: 'registered' | 'unknown' }
  | { readonly do: 'cancel-order' }
  | { readonly do: 'expire-overdue-orders' }
  /** Delivers, in the order written, every message emitted and not yet delivered, to each use case routed under the style; until none is left. */
  | { readonly do: 'settle' };

export interface EmittedMessage {
  readonly id: string;
  readonly type: string;
  readonly correlationId: string;
  readonly causationId: string | null;
  readonly payload: unknown;
}

export type Step =
  | { readonly action: Exclude<Action, { do: 'settle' }>; readonly status: number; readonly emitted: readonly EmittedMessage[] }
  | { readonly deliver: string; readonly envelope: Envelope; readonly outcome: string; readonly emitted: readonly EmittedMessage[] };

export interface GoldenHistory {
  readonly style: SagaStyle;
  readonly path: string;
  readonly steps: readonly Step[];
  readonly outcome: { readonly order: unknown; readonly availableCredit: number | null };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Real ids ↔ placeholders, assigned in the order they are first seen (the same order when the code behaves the same). */
export class Placeholders {
  private readonly toPlaceholder = new Map<string, string>();
  private readonly toReal = new Map<string, string>();
  private messages = 0;
  private others = 0;

  name(real: string, placeholder: string): void {
    this.toPlaceholder.set(real, placeholder);
    this.toReal.set(placeholder, real);
  }

  message(real: string): string {
    return this.known(real) ?? this.assign(real, `<message-${(this.messages += 1)}>`);
  }

  /** Every UUID in `value` as its placeholder (a new one for an id seen first here). */
  normalize<T>(value: T): T {
    return JSON.parse(
      JSON.stringify(value, (_key, v: unknown) =>
        typeof v === 'string' && UUID.test(v) ? (this.known(v) ?? this.assign(v, `<id-${(this.others += 1)}>`)) : v,
      ),
    ) as T;
  }

  /** Every placeholder in `value` as its real id (a fresh id for one not seen in this run). */
  realize<T>(value: T): T {
    return JSON.parse(
      JSON.stringify(value, (_key, v: unknown) =>
        typeof v === 'string' && /^<[a-z]+(-[a-z0-9]+)*>$/.test(v) ? (this.toReal.get(v) ?? this.assignReal(v)) : v,
      ),
    ) as T;
  }

  private known(real: string): string | undefined {
    return this.toPlaceholder.get(real.toLowerCase());
  }

  private assign(real: string, placeholder: string): string {
    this.name(real.toLowerCase(), placeholder);
    return placeholder;
  }

  private assignReal(placeholder: string): string {
    const real = uuidv7();
    this.name(real, placeholder);
    if (placeholder.startsWith('<message-')) this.messages = Math.max(this.messages, Number(placeholder.slice(9, -1)));
    return real;
  }
}

interface OutboxRow {
  id: string;
  type: string;
  correlation_id: string;
  causation_id: string | null;
  traceparent: string;
  occurred_at: string;
  payload: unknown;
}

/** Drives one saga path on a system that runs no relay and no consumer: this harness is both. */
export class HistoryDriver {
  readonly ids = new Placeholders();
  readonly steps: Step[] = [];
  private orderId: string | undefined;
  private customerId: string | undefined;
  /** Emitted envelopes not delivered yet, in the order written. */
  private undelivered: Envelope[] = [];

  constructor(
    private readonly system: TestSystem,
    private readonly inboxes: readonly ModuleInbox[],
    private readonly style: SagaStyle,
  ) {}

  async act(action: Exclude<Action, { do: 'settle' }>): Promise<void> {
    const status = await this.perform(action);
    this.steps.push({ action, status, emitted: await this.collectEmitted() });
  }

  /** Records: delivers what the current code emitted, as a relay would. */
  async settle(): Promise<void> {
    while (this.undelivered.length > 0) {
      const envelope = this.undelivered.shift()!;
      for (const useCase of this.useCasesOf(envelope.type)) await this.deliver(useCase, envelope);
    }
  }

  /** Replays: delivers a recorded envelope (placeholders turned into this run's ids). */
  async deliverRecorded(useCase: string, recorded: Envelope): Promise<void> {
    const envelope = this.ids.realize({ ...recorded, occurredAt: new Date().toISOString(), traceparent: TRACEPARENT });
    await this.deliver(useCase, envelope);
  }

  async outcome(): Promise<GoldenHistory['outcome']> {
    const order = await this.system.app.inject({ method: 'GET', url: `/orders/${this.orderId}` });
    const body = order.json() as { saga?: { steps?: Array<Record<string, unknown>> } };
    const steps = body.saga?.steps?.map(({ at: _at, ...step }) => step);
    const customer = this.customerId ? await this.system.app.inject({ method: 'GET', url: `/customers/${this.customerId}` }) : undefined;
    return this.ids.normalize({
      order: { ...body, ...(body.saga ? { saga: { ...body.saga, steps } } : {}) },
      availableCredit:
        customer?.statusCode === 200 ? (customer.json() as { availableCredit: { amount: number } }).availableCredit.amount : null,
    });
  }

  private async perform(action: Exclude<Action, { do: 'settle' }>): Promise<number> {
    const { app } = this.system;
    const usd = (amount: number) => ({ amount, currency: 'USD' });
    switch (action.do) {
      case 'register-customer': {
        const res = await app.inject({
          method: 'POST',
          url: '/customers',
          payload: { name: 'Golden', creditLimit: usd(action.creditLimit) },
        });
        this.customerId = (res.json() as { id: string }).id;
        this.ids.name(this.customerId, '<customer>');
        return res.statusCode;
      }
      case 'place-order': {
        const customerId = action.customer === 'registered' ? this.customerId : uuidv7();
        if (action.customer === 'unknown') this.ids.name(customerId!, '<unknown-customer>');
        const res = await app.inject({ method: 'POST', url: '/orders', payload: { customerId, total: usd(action.total) } });
        this.orderId = (res.json() as { id: string }).id;
        this.ids.name(this.orderId, '<order>');
        return res.statusCode;
      }
      case 'cancel-order':
        return (await app.inject({ method: 'POST', url: `/orders/${this.orderId}/cancel` })).statusCode;
      case 'expire-overdue-orders': {
        const host = this.system.runtime.modules.find((m) => m.definition.jobs?.(m.container).some((j) => j.name === EXPIRE));
        const job = host?.definition.jobs?.(host.container).find((j) => j.name === EXPIRE);
        if (!job) throw new Error(`no hosted module runs ${EXPIRE}`);
        await job.run();
        return 200;
      }
    }
  }

  private async deliver(useCase: string, envelope: Envelope): Promise<void> {
    const inbox = this.inboxes.find((i) => i.routes.some((r) => r.useCase === useCase && r.messageType === envelope.type));
    const route = inbox?.routes.find((r) => r.useCase === useCase && r.messageType === envelope.type);
    if (!inbox || !route) throw new Error(`${envelope.type} is not routed to ${useCase}`);
    const key = (envelope.payload as Record<string, unknown>)[route.key];
    await sql(
      this.system,
      `insert into "${inbox.schema}".inbox (use_case, message_id, type, correlation_id, envelope, delivery_key) values (?, ?, ?, ?, ?::jsonb, ?)`,
      [useCase, envelope.id, envelope.type, envelope.correlationId, JSON.stringify(envelope), typeof key === 'string' ? key : null],
    );
    const [outcome] = await this.system.runtime.inboxOf(useCase).process(useCase, [envelope.id]);
    const normalized = this.ids.normalize({ ...envelope, occurredAt: '<time>', traceparent: '<traceparent>' });
    this.steps.push({ deliver: useCase, envelope: normalized, outcome: outcome ?? 'none', emitted: await this.collectEmitted() });
  }

  /** What the last step wrote to any outbox, marked relayed so that nothing else carries it. */
  private async collectEmitted(): Promise<EmittedMessage[]> {
    const emitted: EmittedMessage[] = [];
    for (const schema of [...new Set(this.inboxes.map((i) => i.schema))].sort()) {
      const rows = await sql<OutboxRow>(
        this.system,
        `update "${schema}".outbox set relayed_at = now() where relayed_at is null
         returning id::text, type, correlation_id::text, causation_id::text, traceparent, to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as occurred_at, payload, seq`,
      );
      for (const row of rows.sort(
        (a, b) => Number((a as unknown as { seq: string }).seq) - Number((b as unknown as { seq: string }).seq),
      )) {
        this.undelivered.push({
          id: row.id,
          type: row.type,
          occurredAt: row.occurred_at,
          correlationId: row.correlation_id,
          causationId: row.causation_id,
          traceparent: row.traceparent,
          payload: row.payload,
        });
        this.ids.message(row.id);
        emitted.push(
          this.ids.normalize({
            id: row.id,
            type: row.type,
            correlationId: row.correlation_id,
            causationId: row.causation_id,
            payload: row.payload,
          }),
        );
      }
    }
    return emitted;
  }

  private useCasesOf(type: string): string[] {
    return this.inboxes.flatMap((i) =>
      i.routes.filter((r) => r.messageType === type && r.styles.includes(this.style)).map((r) => r.useCase),
    );
  }
}

const EXPIRE = 'order.expire-overdue-orders';
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
