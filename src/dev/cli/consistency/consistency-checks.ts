import type { ModuleInbox } from '../../../shared/contract/routing.js';
import type { ModuleDefinition } from '../../../shared/infrastructure/composition/module-definition.js';
import type { CheckContext, CheckMode } from '../../../shared/infrastructure/operations/consistency-check.js';
import { quoteIdent } from '../../../shared/infrastructure/persistence/sql-identifier.js';
import { byField, missingDeliveries, SCHEMA_CHECKS, type SchemaInSnapshot } from './platform-checks.js';
import { Snapshot, type CheckedDatabase, type CheckedModule } from './snapshot.js';

export type { CheckedDatabase, CheckedModule } from './snapshot.js';
export type { CheckMode } from '../../../shared/infrastructure/operations/consistency-check.js';

/**
 * The system's invariants: the platform's over every module's messaging tables, and each module's
 * own (declared in its ModuleDefinition, reading its own schema only), read in ONE read-only,
 * repeatable-read snapshot per database, so that a message moving from an outbox to an inbox of
 * that database while we read is seen in exactly one place. An operator tool: it only reads, and
 * knows the modules only through what they declare.
 */

export interface ConsistencyOptions {
  /**
   * `live`: the system may be working; work in flight is not a failure until it is older than the
   * thresholds. `settled`: the system is idle, so anything still in flight is a failure (what the
   * reliability suite asserts after a scenario).
   */
  readonly mode: CheckMode;
  /** live: an order (or orchestrated saga) still waiting this long after its deadline is stuck. */
  readonly deadlineGraceMs: number;
  /** live: a delivery pending, an outbox row unrelayed or a compensation unfinished this long is stuck. */
  readonly pendingAfterMs: number;
  /** Rows listed per failed check; counts are always complete. */
  readonly sampleLimit: number;
  /** RETENTION_DONE_MS: how long done deliveries and relayed outbox rows are kept (checks against messages look no further back). */
  readonly messagesKeptMs: number;
}

export const DEFAULT_OPTIONS: ConsistencyOptions = {
  mode: 'live',
  deadlineGraceMs: 60_000,
  pendingAfterMs: 5 * 60_000,
  sampleLimit: 20,
  messagesKeptMs: 86_400_000,
};

/** A purge runs every CLEANUP_INTERVAL_MS: rows a little younger than the retention may already be gone when its clock differs. */
const RETENTION_MARGIN_MS = 5 * 60_000;

export interface CheckResult {
  readonly name: string;
  /** `platform`, or the module that declares the check. */
  readonly owner: string;
  readonly kind: 'progress' | 'invariant';
  readonly description: string;
  readonly ok: boolean;
  readonly count: number;
  readonly sample: readonly Record<string, unknown>[];
}

export interface ConsistencySummary {
  /** Each module's counts (its declared summary), by module name. */
  readonly modules: Readonly<Record<string, Readonly<Record<string, number>>>>;
  readonly pendingDeliveries: number;
  readonly unrelayedOutbox: number;
  readonly deadLetters: number;
}

export interface ConsistencyReport {
  readonly ok: boolean;
  readonly checkedAt: string;
  readonly options: ConsistencyOptions;
  readonly summary: ConsistencySummary;
  readonly checks: readonly CheckResult[];
}

/** What is checked: the databases with their modules, and every module's inbox (the routes). */
export interface ConsistencyTarget {
  readonly databases: readonly CheckedDatabase[];
  readonly inboxes: readonly ModuleInbox[];
}

export class SchemaMissingError extends Error {
  constructor(readonly missing: readonly string[]) {
    super(`schema ${missing.join(', ')} not found: is this the system's database, and were its migrations applied?`);
    this.name = 'SchemaMissingError';
  }
}

/** The modules as the checks see them, from their definitions. */
export function checkedModulesOf(definitions: readonly ModuleDefinition[]): CheckedModule[] {
  return definitions.map((d) => ({ name: d.name, inbox: d.inbox, ...(d.consistency ? { consistency: d.consistency } : {}) }));
}

/** The whole system in one database, as it is deployed today: one client for every module's schema. */
/** Each database and the modules whose schemas live there (`<MODULE>_DATABASE_URL`, ADR 32): one snapshot each. */
export function inDatabases(
  groups: ReadonlyArray<{ readonly client: CheckedDatabase['client']; readonly definitions: readonly ModuleDefinition[] }>,
  inboxes: readonly ModuleInbox[],
): ConsistencyTarget {
  return { databases: groups.map((g) => ({ client: g.client, modules: checkedModulesOf(g.definitions) })), inboxes };
}

export function inOneDatabase(
  client: CheckedDatabase['client'],
  definitions: readonly ModuleDefinition[],
  inboxes: readonly ModuleInbox[] = definitions.map((d) => d.inbox),
): ConsistencyTarget {
  return { databases: [{ client, modules: checkedModulesOf(definitions) }], inboxes };
}

async function assertSchemasExist(database: CheckedDatabase): Promise<void> {
  const schemas = database.modules.map((m) => m.inbox.schema);
  const present = await database.client.query<{ nspname: string }>('select nspname from pg_namespace where nspname = any($1::text[])', [
    schemas,
  ]);
  const missing = schemas.filter((s) => !present.rows.some((r) => r.nspname === s));
  if (missing.length > 0) throw new SchemaMissingError(missing);
}

/**
 * Checks every invariant, each database in a snapshot of its own (its client is left idle, outside
 * a transaction). Throws SchemaMissingError when a module's schema is not there.
 */
export async function checkConsistency(target: ConsistencyTarget, partial: Partial<ConsistencyOptions> = {}): Promise<ConsistencyReport> {
  const options: ConsistencyOptions = { ...DEFAULT_OPTIONS, ...partial };
  for (const database of target.databases) await assertSchemasExist(database);
  const snapshots: Snapshot[] = [];
  try {
    for (const database of target.databases) snapshots.push(await Snapshot.open(database));
    const checkedAt = new Date().toISOString();
    const schemas = snapshots.flatMap((snapshot) =>
      snapshot.database.modules.map((m): SchemaInSnapshot => ({
        module: m.name,
        schema: m.inbox.schema,
        snapshot,
        ...(m.consistency?.sagaStyles ? { sagaStyles: m.consistency.sagaStyles(m.inbox.schema) } : {}),
      })),
    );
    const checks = [
      ...(await moduleChecks(snapshots, options)),
      ...(await schemaChecks(schemas, options)),
      await messageFlowCheck(schemas, target.inboxes, snapshots, options),
    ];
    const summary = await summaryOf(snapshots, schemas);
    return { ok: checks.every((c) => c.ok), checkedAt, options, summary, checks };
  } finally {
    await Promise.all(snapshots.map((s) => s.close()));
  }
}

async function moduleChecks(snapshots: readonly Snapshot[], options: ConsistencyOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const snapshot of snapshots) {
    for (const m of snapshot.database.modules) {
      const context: CheckContext = {
        schema: quoteIdent(m.inbox.schema),
        mode: options.mode,
        deadlineGraceMs: options.deadlineGraceMs,
        pendingAfterMs: options.pendingAfterMs,
        messagesKeptMs: Math.max(0, options.messagesKeptMs - RETENTION_MARGIN_MS),
      };
      for (const check of m.consistency?.checks ?? []) {
        const { sql, params = [] } = check.query(context);
        const { count, sample } = await snapshot.offending(sql, params, options.sampleLimit);
        results.push({
          name: check.name,
          owner: m.name,
          kind: check.kind,
          description: check.description(options.mode),
          ok: count === 0,
          count,
          sample,
        });
      }
    }
  }
  const names = results.map((r) => r.name);
  const twice = names.filter((n, i) => names.indexOf(n) !== i);
  if (twice.length > 0) throw new Error(`consistency check ${twice.join(', ')} is declared twice: a check's name is unique`);
  return results;
}

async function schemaChecks(schemas: readonly SchemaInSnapshot[], options: ConsistencyOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const check of SCHEMA_CHECKS) {
    let count = 0;
    const sample: Record<string, unknown>[] = [];
    for (const s of schemas) {
      const { sql, params = [] } = check.query(s.schema, options);
      const found = await s.snapshot.offending(sql, params, options.sampleLimit);
      count += found.count;
      sample.push(...found.sample);
    }
    sample.sort(byField(check.orderBy.field, check.orderBy.descending));
    const description = check.description(options.mode);
    results.push({
      name: check.name,
      owner: 'platform',
      kind: check.kind,
      description,
      ok: count === 0,
      count,
      sample: sample.slice(0, options.sampleLimit),
    });
  }
  return results;
}

async function messageFlowCheck(
  schemas: readonly SchemaInSnapshot[],
  inboxes: readonly ModuleInbox[],
  snapshots: readonly Snapshot[],
  options: ConsistencyOptions,
): Promise<CheckResult> {
  // One database: one snapshot, exact. Several: only what was relayed before the first snapshot (less a second of clock skew).
  const relayedBefore =
    snapshots.length > 1 && options.mode === 'live' ? new Date(Math.min(...snapshots.map((s) => s.takenAt.getTime())) - 1_000) : undefined;
  const missing = await missingDeliveries(schemas, inboxes, relayedBefore);
  return {
    name: 'messages-reach-their-consumers',
    owner: 'platform',
    kind: 'invariant',
    description: "every relayed message of a saga has a delivery for each use case that subscribes to it under that saga's style",
    ok: missing.length === 0,
    count: missing.length,
    sample: missing.slice(0, options.sampleLimit).map((m) => ({ ...m })),
  };
}

async function summaryOf(snapshots: readonly Snapshot[], schemas: readonly SchemaInSnapshot[]): Promise<ConsistencySummary> {
  const modules: Record<string, Record<string, number>> = {};
  for (const snapshot of snapshots) {
    for (const m of snapshot.database.modules) {
      const sql = m.consistency?.summary?.(m.inbox.schema);
      if (!sql) continue;
      const rows = await snapshot.query<{ label: string; n: number }>(sql);
      modules[m.name] = Object.fromEntries(rows.map((r) => [r.label, Number(r.n)]));
    }
  }
  let pendingDeliveries = 0;
  let unrelayedOutbox = 0;
  let deadLetters = 0;
  for (const s of schemas) {
    const q = quoteIdent(s.schema);
    const [row] = await s.snapshot.query<{ pending: number; unrelayed: number; dead: number }>(
      `select (select count(*)::int from ${q}.inbox where status = 'pending') as pending,
              (select count(*)::int from ${q}.outbox where relayed_at is null) as unrelayed,
              (select count(*)::int from ${q}.inbox where status = 'dead') as dead`,
    );
    pendingDeliveries += row?.pending ?? 0;
    unrelayedOutbox += row?.unrelayed ?? 0;
    deadLetters += row?.dead ?? 0;
  }
  return { modules, pendingDeliveries, unrelayedOutbox, deadLetters };
}

/** Several reports' summaries as one (the counts added up): a suite's view of its runs. */
export function combinedSummary(summaries: readonly ConsistencySummary[]): ConsistencySummary {
  const modules: Record<string, Record<string, number>> = {};
  for (const s of summaries)
    for (const [module, counts] of Object.entries(s.modules))
      for (const [label, n] of Object.entries(counts)) (modules[module] ??= {})[label] = (modules[module]?.[label] ?? 0) + n;
  const total = (key: 'pendingDeliveries' | 'unrelayedOutbox' | 'deadLetters') => summaries.reduce((n, s) => n + s[key], 0);
  return {
    modules,
    pendingDeliveries: total('pendingDeliveries'),
    unrelayedOutbox: total('unrelayedOutbox'),
    deadLetters: total('deadLetters'),
  };
}
