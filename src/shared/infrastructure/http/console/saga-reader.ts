import type { ModuleDatabase } from '../../persistence/module-database.js';
import { quoteIdent } from '../../persistence/sql-identifier.js';
import type { SagaViewPort } from '../../operations/saga-view.port.js';
import type { SagaDelivery, SagaMessage, SagaRecord } from './timeline.js';

/** Milliseconds since the epoch: one unambiguous number whatever the driver's date parsing. */
const ms = (column: string) => `(extract(epoch from ${column}) * 1000)::float8`;
const date = (value: number | null): Date | null => (value === null ? null : new Date(value));

/** How far before its first delivery an ECS launch may have started the task that ran it. */
const LAUNCH_WINDOW = "interval '15 minutes'";

/**
 * Reads one saga across the hosted schemas, like DeliveryAdministration reads their inboxes: what
 * the saga is and its log from the hosted module that runs it (its SagaViewPort), the messages
 * (outbox) and deliveries (inbox, by correlation id) of every schema, and, with EVENT_BUS=ecs, the
 * task launches of its use cases. An operator's view: the modules themselves never read each
 * other's schemas, and this reads none but the platform's messaging tables.
 */
export class SagaReader {
  constructor(
    private readonly views: readonly SagaViewPort[],
    private readonly schemas: readonly ModuleDatabase[],
    private readonly readLaunches: boolean,
  ) {}

  /** False when no hosted module runs sagas (this process cannot show one). */
  get available(): boolean {
    return this.views.length > 0;
  }

  async read(sagaId: string): Promise<SagaRecord | null> {
    const [summaries, perSchema] = await Promise.all([
      Promise.all(this.views.map((view) => view.read(sagaId))),
      Promise.all(this.schemas.map((m) => this.readSchema(m, sagaId))),
    ]);
    const summary = summaries.find((s) => s !== null);
    if (!summary) return null;
    return {
      id: sagaId,
      summary,
      messages: perSchema.flatMap((p) => p.messages).sort((a, b) => a.occurredAt.getTime() - b.occurredAt.getTime()),
      deliveries: perSchema.flatMap((p) => p.deliveries),
      launches: perSchema.flatMap((p) => p.launches).sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime()),
    };
  }

  private async readSchema(db: ModuleDatabase, sagaId: string): Promise<Pick<SagaRecord, 'messages' | 'deliveries' | 'launches'>> {
    const s = quoteIdent(db.schema);
    const [messages, deliveries] = await Promise.all([
      db.query<{
        id: string;
        type: string;
        causation_id: string | null;
        traceparent: string;
        occurred_ms: number;
        produced_by: string;
        relayed_ms: number | null;
      }>(
        `select id::text, type, causation_id::text, traceparent, ${ms('occurred_at')} as occurred_ms, produced_by, ${ms('relayed_at')} as relayed_ms
         from ${s}.outbox where correlation_id = ? order by seq`,
        [sagaId],
      ),
      db.query<DeliveryRow>(
        `select use_case, message_id::text, type, status, attempts, envelope->>'traceparent' as traceparent, error_code, last_error,
           ${ms('created_at')} as created_ms, ${ms('updated_at')} as updated_ms, ${ms('done_at')} as done_ms
         from ${s}.inbox where correlation_id = ? order by created_at`,
        [sagaId],
      ),
    ]);
    return {
      messages: messages.map((m): SagaMessage => ({
        schema: db.schema,
        id: m.id,
        type: m.type,
        causationId: m.causation_id,
        traceparent: m.traceparent,
        occurredAt: new Date(m.occurred_ms),
        producedBy: m.produced_by,
        relayedAt: date(m.relayed_ms),
      })),
      deliveries: deliveries.map((d) => deliveryOf(db.schema, d)),
      launches: this.readLaunches ? await launchesAround(db, deliveries) : [],
    };
  }
}

interface DeliveryRow {
  use_case: string;
  message_id: string;
  type: string;
  status: string;
  attempts: number;
  traceparent: string | null;
  error_code: string | null;
  last_error: string | null;
  created_ms: number;
  updated_ms: number;
  done_ms: number | null;
}

function deliveryOf(schema: string, d: DeliveryRow): SagaDelivery {
  return {
    schema,
    useCase: d.use_case,
    messageId: d.message_id,
    type: d.type,
    status: d.status,
    attempts: d.attempts,
    traceparent: d.traceparent,
    createdAt: new Date(d.created_ms),
    updatedAt: new Date(d.updated_ms),
    doneAt: date(d.done_ms),
    errorCode: d.error_code,
    lastError: d.last_error,
  };
}

/** The launches of the deliveries' use cases from shortly before the first to the last delivery's end. */
async function launchesAround(db: ModuleDatabase, deliveries: readonly DeliveryRow[]): Promise<SagaRecord['launches']> {
  if (deliveries.length === 0) return [];
  const from = Math.min(...deliveries.map((d) => d.created_ms));
  const to = Math.max(...deliveries.map((d) => d.done_ms ?? d.updated_ms));
  const rows = await db.query<{ use_case: string; created_ms: number; task_arns: string[] }>(
    `select use_case, ${ms('created_at')} as created_ms, task_arns from ${quoteIdent(db.schema)}.launch_attempts
     where use_case = any(?::text[]) and created_at between to_timestamp(?::float8 / 1000) - ${LAUNCH_WINDOW} and to_timestamp(?::float8 / 1000)
     order by created_at desc limit 500`,
    [[...new Set(deliveries.map((d) => d.use_case))], from, to],
  );
  return rows.map((r) => ({ schema: db.schema, useCase: r.use_case, createdAt: new Date(r.created_ms), taskArns: r.task_arns }));
}
