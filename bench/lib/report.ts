import type { FargateResults } from './fargate-ladder.js';
import type { ConsistencyCheck, HopSummary, PhaseResult } from './load.js';
import { round } from './stats.js';

export interface StyleResult {
  /** Completed sagas per second at saturation. */
  readonly throughputPerSec: number;
  /** POST /orders → terminal state at half of saturation. */
  readonly latencyMs: { readonly p50: number; readonly p95: number; readonly p99: number; readonly max: number };
  readonly saturation: PhaseResult;
  readonly loadPoints: readonly PhaseResult[];
  readonly peakRssMb: number;
  readonly consistency: ConsistencyCheck;
  /** Saturation with the orders spread over 40 customers only (BullMQ and ECS). */
  readonly hotKeys?: {
    readonly customers: number;
    readonly throughputPerSec: number;
    readonly latencyMs: { readonly p50: number; readonly p99: number };
    readonly ratioToDistinct: number;
  };
}

export interface TargetCheck {
  readonly name: string;
  readonly value: number;
  readonly target: string;
  readonly met: boolean;
}

export interface BenchResults {
  readonly generatedAt: string;
  readonly command: string;
  readonly mode: 'quick' | 'full';
  readonly durationSec: number;
  readonly machine: Record<string, unknown>;
  readonly settings: Record<string, unknown>;
  readonly baselines: {
    readonly sagaStepTps: number;
    readonly sagaStepLatencyMs: number;
    readonly bullmqJobsPerSec: number;
    readonly nodeStartMs: number;
    readonly details: Record<string, unknown>;
  };
  readonly saga: Partial<Record<'memory' | 'bullmq' | 'ecs', Partial<Record<'choreography' | 'orchestration', StyleResult>> | null>>;
  /** The burst run's figures (absent when only the ladder was measured) and the Fargate-time cost ladder. */
  readonly ecs: {
    readonly runTaskCallsPerMessage?: number;
    readonly tasksPerMessage?: number;
    readonly taskStartMs?: number;
    readonly fargate?: FargateResults;
    readonly [extra: string]: unknown;
  } | null;
  readonly memory: { readonly peakRssMb: number; readonly byRun: Record<string, number> };
  readonly ratios: Record<string, unknown> & { readonly targets: readonly TargetCheck[] };
  /** CPU per saga with AUTH_MODE=jwt beside off (absent from runs before it was measured). */
  readonly auth?: {
    readonly adapter: string;
    readonly style: string;
    readonly pairs: ReadonlyArray<{ readonly jwt: number; readonly off: number }>;
    readonly jwtCpuMsPerSaga: number;
    readonly offCpuMsPerSaga: number;
    readonly overheadPct: number;
  } | null;
  /**
   * CPU per saga with tracing on (every process exporting OTLP/HTTP JSON to a receiver in the
   * bench) beside off (absent from runs before it was measured).
   */
  readonly tracing?: {
    readonly adapter: string;
    readonly style: string;
    /** The variables of the "on" runs (the "off" runs have no OTEL_* at all). */
    readonly onEnv: Record<string, string>;
    /** The open-loop arrival rate both modes were measured at, sagas per second. */
    readonly offeredPerSec: number;
    /**
     * CPU ms per saga on and off at that rate, and at saturation (with each mode's throughput);
     * spans per saga and bytes of JSON per span of the "on" run.
     */
    readonly pairs: ReadonlyArray<{
      readonly on: number;
      readonly off: number;
      readonly saturation: { readonly on: number; readonly off: number; readonly onPerSec: number; readonly offPerSec: number };
      readonly spansPerSaga: number;
      readonly bytesPerSpan: number;
    }>;
    readonly onCpuMsPerSaga: number;
    readonly offCpuMsPerSaga: number;
    /** on ÷ off − 1 at the offered rate: the figure the target is about. */
    readonly overheadPct: number;
    /** The same at saturation, where the modes do not do the same work (see BENCHMARKS.md). */
    readonly saturation: { readonly onCpuMsPerSaga: number; readonly offCpuMsPerSaga: number; readonly overheadPct: number };
    /** Spans the receiver got per order placed (saturation and offered rate), mean of the "on" runs. */
    readonly spansPerSaga: number;
    /** Bytes of OTLP JSON per span (uncompressed), mean of the "on" runs. */
    readonly bytesPerSpan: number;
  } | null;
  /**
   * CPU per saga with every module in one database beside one module moved to a database of its
   * own (absent from runs before it was measured).
   */
  readonly databases?: {
    readonly adapter: string;
    readonly style: string;
    /** The module moved out. */
    readonly moved: string;
    readonly pairs: ReadonlyArray<
      Record<'one' | 'split', { readonly system: number; readonly postgres: number; readonly throughputPerSec: number }>
    >;
    readonly one: DatabaseLayoutFigures;
    readonly split: DatabaseLayoutFigures;
    /** split ÷ one − 1 of system + PostgreSQL CPU per saga. */
    readonly overheadPct: number;
  } | null;
  /** Why a section is null. */
  readonly skipped: Record<string, string>;
}

export interface DatabaseLayoutFigures {
  readonly systemCpuMsPerSaga: number;
  readonly postgresCpuMsPerSaga: number;
  readonly throughputPerSec: number;
}

export const SECTION_START = '<!-- bench:results:start (written by npm run bench; edit outside these markers) -->';
export const SECTION_END = '<!-- bench:results:end -->';

const fmt = (n: number | null | undefined): string => (n === null || n === undefined || !Number.isFinite(n) ? '–' : String(n));

/** The generated part of BENCHMARKS.md: the command, the machine, and the tables of the run. */
export function renderResultsSection(r: BenchResults): string {
  const lines: string[] = [SECTION_START, '', `## Latest results`, ''];
  lines.push(
    `Produced by \`${r.command}\` on ${r.generatedAt.slice(0, 10)} in ${r.durationSec} s; raw data: [bench/results/latest.json](bench/results/latest.json).`,
  );
  const m = r.machine;
  lines.push(
    '',
    `Machine: ${String(m['cpus'])} × ${String(m['cpuModel'])}, ${String(m['memoryGb'])} GiB, ${String(m['os'])}, Node ${String(m['node'])}, PostgreSQL ${String(m['postgres'])}, Redis ${String(m['redis'])}; commit ${String(m['gitCommit'])}${m['gitDirty'] ? ' (with uncommitted changes in src/)' : ''}. Load average (1 min) ${String(m['loadAverageAtStart'])} at the start, ${String(m['loadAverageAtEnd'])} at the end: the machine is shared, see above.`,
  );
  lines.push('', '### Baselines (same run, same PostgreSQL and Redis)', '', '| baseline | value |', '|---|---|');
  lines.push(
    `| saga step in raw SQL through \`pg\`, pool ${String((r.baselines.details['sagaStep'] as { poolSize?: number } | undefined)?.poolSize ?? '')} | ${fmt(r.baselines.sagaStepTps)} tx/s, ${fmt(r.baselines.sagaStepLatencyMs)} ms mean |`,
  );
  lines.push(`| raw BullMQ, add + process | ${fmt(r.baselines.bullmqJobsPerSec)} jobs/s |`);
  lines.push(`| \`node -e 0\` (median) | ${fmt(r.baselines.nodeStartMs)} ms |`);
  lines.push('', "### Sagas (POST /orders over HTTP → APPROVED, from the orders table's created_at and decided_at)", '');
  lines.push(
    '| adapter | style | saturation, sagas/s | p50 / p95 / p99 / max at ½ saturation, ms | p50 / p99 at saturation, ms | POST /orders p50 / p99 at ½, ms | CPU per saga at saturation, system + PostgreSQL, ms | peak RSS, MiB |',
  );
  lines.push('|---|---|---|---|---|---|---|---|');
  for (const [adapter, byStyle] of Object.entries(r.saga)) {
    if (!byStyle) {
      lines.push(`| ${adapter} | – | not run: ${r.skipped[adapter] ?? 'no result'} | | | | | |`);
      continue;
    }
    for (const [style, s] of Object.entries(byStyle)) {
      if (!s) continue;
      const half = s.loadPoints.find((p) => p.offeredPerSec !== null && Math.abs(p.offeredPerSec / s.throughputPerSec - 0.5) < 0.02);
      lines.push(
        `| ${adapter} | ${style} | ${fmt(s.throughputPerSec)} | ${fmt(s.latencyMs.p50)} / ${fmt(s.latencyMs.p95)} / ${fmt(s.latencyMs.p99)} / ${fmt(s.latencyMs.max)} | ${fmt(s.saturation.latencyMs.p50)} / ${fmt(s.saturation.latencyMs.p99)} | ${fmt(half?.httpPostMs.p50)} / ${fmt(half?.httpPostMs.p99)} | ${fmt(s.saturation.cpuMsPerSaga.system)} + ${fmt(s.saturation.cpuMsPerSaga.postgres)} | ${fmt(s.peakRssMb)} |`,
      );
    }
  }
  const hot = Object.entries(r.saga).flatMap(([adapter, byStyle]) =>
    Object.entries(byStyle ?? {}).flatMap(([style, s]) => (s?.hotKeys ? [{ adapter, style, s, h: s.hotKeys }] : [])),
  );
  if (hot.length > 0) {
    lines.push('', `### Hot customers (the same saturation with every order on ${String(hot[0]!.h.customers)} customers)`, '');
    lines.push(
      '| adapter | style | distinct customers, sagas/s | hot customers, sagas/s | hot ÷ distinct | p50 / p99 at saturation, distinct, ms | p50 / p99 at saturation, hot, ms |',
      '|---|---|---|---|---|---|---|',
    );
    for (const { adapter, style, s, h } of hot) {
      lines.push(
        `| ${adapter} | ${style} | ${fmt(s.throughputPerSec)} | ${fmt(h.throughputPerSec)} | ${fmt(h.ratioToDistinct)} | ${fmt(s.saturation.latencyMs.p50)} / ${fmt(s.saturation.latencyMs.p99)} | ${fmt(h.latencyMs.p50)} / ${fmt(h.latencyMs.p99)} |`,
      );
    }
  }
  lines.push('', '### Authentication cost', '');
  if (r.auth) {
    lines.push(
      `CPU per saga at saturation (${r.auth.adapter}, ${r.auth.style}, system process): ${fmt(r.auth.jwtCpuMsPerSaga)} ms with \`AUTH_MODE=jwt\` (every request with a bearer token, verified once then cached) beside ${fmt(r.auth.offCpuMsPerSaga)} ms with \`AUTH_MODE=off\`: **${fmt(r.auth.overheadPct)} %** (target ≤ 10 %), the mean of ${String(r.auth.pairs.length)} back-to-back pair(s): ${r.auth.pairs.map((p) => `${fmt(p.jwt)} / ${fmt(p.off)}`).join(', ')} ms.`,
    );
  } else {
    lines.push(`Not measured: ${r.skipped['auth'] ?? 'not requested'}.`);
  }
  lines.push('', '### A module in its own database', '');
  if (r.databases) {
    const d = r.databases;
    lines.push(
      `CPU per saga at saturation (${d.adapter}, ${d.style}; system process + PostgreSQL backends) with every module in one database: ${fmt(d.one.systemCpuMsPerSaga)} + ${fmt(d.one.postgresCpuMsPerSaga)} ms (${fmt(d.one.throughputPerSec)} sagas/s); with the ${d.moved} module in a database of its own (every message between the modules relayed across databases, two commits): ${fmt(d.split.systemCpuMsPerSaga)} + ${fmt(d.split.postgresCpuMsPerSaga)} ms (${fmt(d.split.throughputPerSec)} sagas/s): **${fmt(d.overheadPct)} %**, the mean of ${String(d.pairs.length)} back-to-back pair(s).`,
    );
  } else {
    lines.push(`Not measured: ${r.skipped['databases'] ?? 'not requested'}.`);
  }
  lines.push('', '### Tracing cost', '');
  if (r.tracing) {
    const t = r.tracing;
    const settings = Object.entries(t.onEnv)
      .map(([k, v]) => `\`${k}=${v}\``)
      .join(', ');
    lines.push(
      `CPU per saga of the system process (${t.adapter}, ${t.style}) at ${fmt(t.offeredPerSec)} sagas/s offered: ${fmt(t.onCpuMsPerSaga)} ms with tracing on (${settings}, spans exported as OTLP/HTTP JSON to a receiver in the bench, ${fmt(t.spansPerSaga)} spans per saga of ${fmt(t.bytesPerSpan)} bytes each) beside ${fmt(t.offCpuMsPerSaga)} ms with tracing off: **${fmt(t.overheadPct)} %** (target ≤ 15 %), the mean of ${String(t.pairs.length)} back-to-back pair(s): ${t.pairs.map((p) => `${fmt(p.on)} / ${fmt(p.off)}`).join(', ')} ms. At saturation, where the two do not do the same work: ${fmt(t.saturation.onCpuMsPerSaga)} / ${fmt(t.saturation.offCpuMsPerSaga)} ms (${fmt(t.saturation.overheadPct)} %; ${t.pairs.map((p) => `${fmt(p.saturation.onPerSec)} / ${fmt(p.saturation.offPerSec)}`).join(', ')} sagas/s).`,
    );
  } else {
    lines.push(`Not measured: ${r.skipped['tracing'] ?? 'not requested'}.`);
  }
  lines.push('', '### ECS', '');
  if (r.ecs?.runTaskCallsPerMessage !== undefined) {
    lines.push(
      `RunTask calls per delivered message ${fmt(r.ecs.runTaskCallsPerMessage)} (${String(r.ecs['runTaskCalls'])} calls for ${String(r.ecs['deliveries'])} deliveries), tasks per message ${fmt(r.ecs.tasksPerMessage)}; a task's spawn to its first committed delivery ${fmt(r.ecs.taskStartMs)} ms (median of ${String(r.ecs['taskStartSamples'])} tasks).`,
    );
  } else {
    lines.push(`Not measured: ${r.skipped['ecs'] ?? 'not requested'}.`);
  }
  lines.push(...fargateSection(r));
  lines.push(
    '',
    '### Latency against load',
    '',
    '| adapter | style | offered, sagas/s | done, sagas/s | p50 / p99 / max, ms |',
    '|---|---|---|---|---|',
  );
  for (const [adapter, byStyle] of Object.entries(r.saga)) {
    for (const [style, s] of Object.entries(byStyle ?? {})) {
      if (!s) continue;
      for (const p of [...s.loadPoints, s.saturation]) {
        lines.push(
          `| ${adapter} | ${style} | ${p.offeredPerSec === null ? `saturation (${String(p.inFlight)} in flight)` : fmt(p.offeredPerSec)} | ${fmt(p.throughputPerSec)} | ${fmt(p.latencyMs.p50)} / ${fmt(p.latencyMs.p99)} / ${fmt(p.latencyMs.max)} |`,
        );
      }
    }
  }
  lines.push(...tailSection(r));
  lines.push('', "### Targets (ratios to this run's baselines)", '', '| target | value | goal | |', '|---|---|---|---|');
  for (const t of r.ratios.targets) lines.push(`| ${t.name} | ${fmt(t.value)} | ${t.target} | ${t.met ? 'met' : '**missed**'} |`);
  lines.push('', `Peak RSS of the system process: ${fmt(r.memory.peakRssMb)} MiB (largest of the runs).`);
  lines.push('', '![Saga latency against load](bench/results/latency-vs-load.svg)', '', SECTION_END);
  return lines.join('\n');
}

const hop = (h: HopSummary): string => `${fmt(h.p50)} / ${fmt(h.p95)} / ${fmt(h.p99)}`;

/**
 * Where a saga's time goes at each load point: per use case, the relay hop (producer's transaction
 * → inbox row) and the claim hop (inbox row → the processing transaction) as p50 / p95 / p99, the
 * p99 sagas' mean arrival at each step beside everyone's, and what the window saw around them.
 */
function tailSection(r: BenchResults): string[] {
  const lines: string[] = ['', '### Where the tail goes', ''];
  lines.push(
    "Per load point: each use case's **relay** hop (its message's outbox row → its inbox row: the producer's commit, the relay's wake-up and pass) and **claim** hop (inbox row → the transaction that processed it: the relay's commit, queue wait, fetch, claim), p50 / p95 / p99 in ms; **reached** is the mean time after the order's creation at which the delivery was processed, over all sagas and over the p99 sagas only. Then the system process's event-loop delay (p50 / p99 / max) and garbage collection inside the window, PostgreSQL's active backends by wait (mean over samples every 100 ms), and the bench driver's own CPU per saga.",
    '',
    '| adapter | style | load | use case | relay p50 / p95 / p99 | claim p50 / p95 / p99 | reached, all / p99 sagas |',
    '|---|---|---|---|---|---|---|',
  );
  const around: string[] = [];
  for (const [adapter, byStyle] of Object.entries(r.saga)) {
    for (const [style, s] of Object.entries(byStyle ?? {})) {
      if (!s) continue;
      for (const p of [...s.loadPoints, s.saturation]) {
        if (!p.timeline[0]?.relay) continue;
        const load = p.offeredPerSec === null ? 'saturation' : `${fmt(p.offeredPerSec)}/s (p99 ${fmt(p.latencyMs.p99)} ms)`;
        for (const t of p.timeline) {
          const tail = p.p99Timeline.find((x) => x.useCase === t.useCase);
          lines.push(
            `| ${adapter} | ${style} | ${load} | ${t.useCase} | ${hop(t.relay)} | ${hop(t.claim)} | +${fmt(t.claimedAfterMs)} / +${fmt(tail?.claimedAfterMs)} |`,
          );
        }
        const pr = p.probes;
        if (pr)
          around.push(
            `| ${adapter} | ${style} | ${load} | ${pr.eventLoopDelayMs ? `${fmt(pr.eventLoopDelayMs.p50)} / ${fmt(pr.eventLoopDelayMs.p99)} / ${fmt(pr.eventLoopDelayMs.max)}` : '–'} | ${pr.gc ? `${fmt(pr.gc.count)} collections, ${fmt(pr.gc.totalMs)} ms` : '–'} | ${
              pr.postgresWaits
                .slice(0, 4)
                .map((w) => `${w.wait} ${fmt(w.backends)}`)
                .join(', ') || '–'
            } | ${fmt(p.driverCpuMsPerSaga)} |`,
          );
      }
    }
  }
  if (around.length > 0)
    lines.push(
      '',
      '| adapter | style | load | event-loop delay p50 / p99 / max, ms | GC in the window | PostgreSQL active backends by wait | driver CPU per saga, ms |',
      '|---|---|---|---|---|---|---|',
      ...around,
    );
  return lines;
}

/** The Fargate-time cost ladder: what Fargate would bill at a few order rates (docs/cost.md turns it into monthly costs). */
function fargateSection(r: BenchResults): string[] {
  const f = r.ecs?.fargate;
  const lines = ['', "### ECS on Fargate's terms: the cost ladder", ''];
  if (!f) return [...lines, `Not measured: ${r.skipped['ecs.fargate'] ?? 'not requested'}.`];
  lines.push(
    `The local endpoint's \`fargate\` profile (cold starts ${fmt(f.startDelayMs.min / 1000)}–${fmt(f.startDelayMs.max / 1000)} s) with every time-based ECS setting, run ${f.timeScale} × faster than Fargate; ` +
      `figures in Fargate time: idle grace ${fmt(f.idleGraceMs / 1000)} s, maximum runtime ${fmt(f.taskMaxRuntimeMs / 1000)} s, tasks of ${f.taskCpuUnits} CPU units and ${f.taskMemoryMiB} MiB, Poisson arrivals, ` +
      `billed per second with a 60 s minimum per task. Measured by \`${f.command}\` (${f.mode}) on ${f.generatedAt.slice(0, 10)}. What it costs a month, and when another deployment is cheaper: [docs/cost.md](docs/cost.md).`,
    '',
    '| style | orders/h | window, s | sagas | deliveries | RunTask calls | tasks (by use case) | task-seconds per saga | billed task-minutes per 1,000 sagas | saga p50 / p99, s |',
    '|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const p of f.ladder) {
    const byUseCase = Object.entries(p.tasksByUseCase)
      .map(([u, n]) => `${u} ${n}`)
      .join(', ');
    lines.push(
      `| ${p.style} | ${p.ordersPerHour.toLocaleString('en-US')} | ${fmt(p.windowSec)} | ${p.sagas} | ${p.messages} | ${p.runTaskCalls} | ${p.tasksLaunched} (${byUseCase}) | ${fmt(p.taskSecondsPerSaga)} | ${fmt(p.billedTaskMinutesPer1000Sagas)} | ${fmt(round(p.latencyMs.p50 / 1000))} / ${fmt(round(p.latencyMs.p99 / 1000))} |`,
    );
  }
  return lines;
}

/** Replaces the generated section of BENCHMARKS.md, or appends it; the rest of the file is left as written. */
export function replaceResultsSection(markdown: string, section: string): string {
  const start = markdown.indexOf(SECTION_START);
  const end = markdown.indexOf(SECTION_END);
  if (start === -1 || end === -1 || end < start) return `${markdown.trimEnd()}\n\n${section}\n`;
  return `${markdown.slice(0, start)}${section}${markdown.slice(end + SECTION_END.length)}`;
}
