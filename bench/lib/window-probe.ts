import type { BenchDb } from './databases.js';
import type { HttpClient } from './http-client.js';

/**
 * What else a measurement window saw, to find where a saga's tail goes: the system process's
 * event-loop delay and garbage-collection pauses (from its own GET /metrics, prom-client's default
 * metrics), what PostgreSQL's active backends were waiting on (pg_stat_activity, sampled), and the
 * CPU the bench driver itself spent, since it shares the machine's cores with the system.
 */
export interface WindowProbes {
  /** prom-client's event-loop delay histogram, reset by the scrape that opened the window. */
  readonly eventLoopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number } | null;
  /** Collections inside the window and their total pause, by kind (major, minor, incremental, weakcb). */
  readonly gc: { readonly count: number; readonly totalMs: number; readonly byKind: Readonly<Record<string, number>> } | null;
  /** Mean number of the system's active backends in each wait (`CPU` when running), over the samples. */
  readonly postgresWaits: ReadonlyArray<{ readonly wait: string; readonly backends: number }>;
  readonly postgresSamples: number;
  /** The driver's own CPU over the window (user + system), ms. */
  readonly driverCpuMs: number;
}

interface MetricsSnapshot {
  readonly values: ReadonlyMap<string, number>;
}

/** `name{labels} value` lines of the Prometheus text format, keyed by `name{labels}`. */
export function parsePrometheusText(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^(\S+?(?:\{[^}]*\})?)\s+(\S+)/.exec(line);
    if (match) values.set(match[1]!, Number(match[2]));
  }
  return values;
}

const round = (n: number, digits = 2): number => Math.round(n * 10 ** digits) / 10 ** digits;

export class WindowProbe {
  private opening: MetricsSnapshot | undefined;
  private cpuAtStart: NodeJS.CpuUsage | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> = Promise.resolve();
  private samples = 0;
  private readonly waits = new Map<string, number>();

  constructor(
    private readonly http: HttpClient,
    private readonly db: BenchDb,
    private readonly sampleEveryMs = 100,
  ) {}

  private async scrape(): Promise<MetricsSnapshot | undefined> {
    const res = await this.http.send('GET', '/metrics').catch(() => undefined);
    if (!res || res.status !== 200 || typeof res.body !== 'string') return undefined;
    return { values: parsePrometheusText(res.body) };
  }

  private async sample(): Promise<void> {
    for (const { pool } of this.db.pools) {
      const { rows } = await pool
        .query<{ wait: string; n: string }>(
          `select coalesce(wait_event_type || ':' || wait_event, 'CPU') as wait, count(*) as n
             from pg_stat_activity
            where datname = current_database() and state = 'active' and backend_type = 'client backend'
              and pid <> pg_backend_pid() and application_name <> 'bench:driver'
            group by 1`,
        )
        .catch(() => ({ rows: [] as { wait: string; n: string }[] }));
      for (const r of rows) this.waits.set(r.wait, (this.waits.get(r.wait) ?? 0) + Number(r.n));
    }
    this.samples++;
  }

  /** Opens the window: the scrape resets the event-loop histogram; sampling starts. Call before the CPU meter starts. */
  async start(): Promise<void> {
    this.opening = await this.scrape();
    this.cpuAtStart = process.cpuUsage();
    this.samples = 0;
    this.waits.clear();
    const tick = (): void => {
      this.sampling = this.sample().finally(() => {
        if (this.timer) this.timer = setTimeout(tick, this.sampleEveryMs);
      });
    };
    this.timer = setTimeout(tick, this.sampleEveryMs);
  }

  /** Closes the window; call after the CPU meter stopped, so the closing scrape is not counted in the system's CPU. */
  async stop(): Promise<WindowProbes> {
    const cpu = process.cpuUsage(this.cpuAtStart);
    const timer = this.timer;
    this.timer = undefined;
    clearTimeout(timer);
    await this.sampling;
    const closing = await this.scrape();
    return {
      eventLoopDelayMs: closing ? this.loopDelay(closing) : null,
      gc: this.opening && closing ? this.gcBetween(this.opening, closing) : null,
      postgresWaits: [...this.waits]
        .map(([wait, n]) => ({ wait, backends: round(n / Math.max(1, this.samples)) }))
        .sort((a, b) => b.backends - a.backends),
      postgresSamples: this.samples,
      driverCpuMs: round((cpu.user + cpu.system) / 1000, 0),
    };
  }

  private loopDelay(s: MetricsSnapshot): WindowProbes['eventLoopDelayMs'] {
    const v = (name: string) => s.values.get(name);
    const p50 = v('nodejs_eventloop_lag_p50_seconds');
    const p99 = v('nodejs_eventloop_lag_p99_seconds');
    const max = v('nodejs_eventloop_lag_max_seconds');
    if (p50 === undefined || p99 === undefined || max === undefined) return null;
    return { p50: round(p50 * 1000), p99: round(p99 * 1000), max: round(max * 1000) };
  }

  private gcBetween(a: MetricsSnapshot, b: MetricsSnapshot): WindowProbes['gc'] {
    const byKind: Record<string, number> = {};
    let count = 0;
    let totalMs = 0;
    for (const [key, value] of b.values) {
      const kind = /^nodejs_gc_duration_seconds_(count|sum)\{kind="([^"]+)"\}$/.exec(key);
      if (!kind) continue;
      const delta = value - (a.values.get(key) ?? 0);
      if (kind[1] === 'count') count += delta;
      else {
        totalMs += delta * 1000;
        byKind[kind[2]!] = round(delta * 1000);
      }
    }
    return { count, totalMs: round(totalMs), byKind };
  }
}
