/**
 * A metric a module exports, declared without a metrics library: the platform turns each into a
 * Prometheus collector (prom-client) of the process' /metrics and reads it at scrape time (at
 * most every few seconds, whatever the number of scrapes; a failed read sets
 * `saga_metrics_postgres_up` to 0). A module reads its own tables, through its ModuleDatabase.
 *
 * Two kinds: a gauge, whose values `read` returns whole each time (rows in some state), and events
 * recorded in the module's tables (a saga decided) counted or observed once each per process: the
 * platform calls `read(sinceMs)` with some overlap, so that a row a late commit made visible is
 * not missed, and remembers the ids it has seen while they can be read again.
 */
export type ModuleMetric = ModuleGauge | ModuleCounter | ModuleHistogram;

interface ModuleMetricBase<L extends string> {
  /** The Prometheus name (`[a-zA-Z_:][a-zA-Z0-9_:]*`): unique among every module's and the platform's. */
  readonly name: string;
  readonly help: string;
  readonly labels: readonly L[];
}

export interface ModuleGauge<L extends string = string> extends ModuleMetricBase<L> {
  readonly type: 'gauge';
  read(): Promise<readonly GaugeSample<L>[]>;
}

export interface ModuleCounter<L extends string = string> extends ModuleMetricBase<L> {
  readonly type: 'counter';
  /** The events at or after `sinceMs` (ms since the epoch); each increments by its value. */
  read(sinceMs: number): Promise<readonly MetricEvent<L>[]>;
}

export interface ModuleHistogram<L extends string = string> extends ModuleMetricBase<L> {
  readonly type: 'histogram';
  /** Upper bounds of the buckets, ascending. */
  readonly buckets: readonly number[];
  /** The events at or after `sinceMs` (ms since the epoch); each is observed with its value. */
  read(sinceMs: number): Promise<readonly MetricEvent<L>[]>;
}

export interface GaugeSample<L extends string = string> {
  readonly labels: Readonly<Record<L, string>>;
  readonly value: number;
}

export interface MetricEvent<L extends string = string> {
  /** Identifies the event: the platform counts it once, however often it is read. */
  readonly id: string;
  /** When it happened (ms since the epoch): what `sinceMs` is compared with. */
  readonly atMs: number;
  readonly labels: Readonly<Record<L, string>>;
  readonly value: number;
}
