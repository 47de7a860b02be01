/**
 * `npm run bench` (about 10 minutes) and `npm run bench -- --quick` (about a minute): saga
 * throughput and latency of the compiled system, run as its own process over real HTTP, against
 * baselines measured in the same run on the same PostgreSQL and Redis. Writes
 * bench/results/latest.json and bench/results/latency-vs-load.svg; a full run also rewrites the
 * results section of BENCHMARKS.md. With the ECS adapter both end with the Fargate-time cost ladder
 * (bench/lib/fargate-ladder.ts: about 4.5 minutes in full, 30 s in quick), which docs/cost.md prices.
 *
 * Options: --quick; --profile (system processes run with --cpu-prof; writes profile summaries
 * instead of latest.json); --adapters=memory,bullmq,ecs and --styles=choreography,orchestration
 * (a partial run writes bench/results/partial.json.tmp); --in-flight=N (sagas kept running at saturation);
 * --dist=DIR (another compiled tree); --out=FILE; --keep (keep the work directory: system and task logs);
 * --skip=auth,tracing,databases (leave those comparisons out: a build without tracing cannot run the
 * second, one without module databases the third, and comparing builds needs none);
 * --render (only rewrite the chart and BENCHMARKS.md from bench/results/latest.json);
 * --only=fargate (only the Fargate-time cost ladder, merged into the `ecs.fargate` of an existing
 * bench/results/latest.json, or of --out; with --quick, its one short point per style).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Redis } from 'ioredis';
import { loadConfig, moduleDatabaseVariable } from '../src/shared/infrastructure/config/config.js';
import { ALL_INBOXES } from '../src/entrypoints/composition/all-modules.js';
import { orderInbox } from '../src/modules/order/contract/index.js';
import { exitWithHelpIfAsked, settingsOrExit } from '../src/entrypoints/cli-help.js';
import { deleteKeysWithPrefix } from '../src/dev/provisioning/redis.js';
import { measureBullMq, measureNodeStart, measureSagaStep } from './lib/baselines.js';
import { latencyChart, type ChartSeries } from './lib/chart.js';
import { CpuMeter } from './lib/cpu.js';
import { BenchDatabases, BenchDb, dropSchemas } from './lib/databases.js';
import { detectEcs } from './lib/ecs.js';
import { runFargateLadder, type FargateResults } from './lib/fargate-ladder.js';
import { HttpClient } from './lib/http-client.js';
import {
  checkConsistency,
  deliveriesOf,
  registerCustomers,
  runOpenLoop,
  runSaturation,
  type ConsistencyCheck,
  type PhaseResult,
} from './lib/load.js';
import { summarizeProfile } from './lib/profile.js';
import { AUTH_OFF_ENV, benchAuth, type BenchAuth } from './lib/bench-auth.js';
import { startOtlpReceiver, type OtlpReceiver } from './lib/otlp-receiver.js';
import { median, round } from './lib/stats.js';
import { freePort, startSystem, type SystemProcess } from './lib/system-process.js';
import { WindowProbe } from './lib/window-probe.js';
import { renderResultsSection, replaceResultsSection, type BenchResults, type StyleResult, type TargetCheck } from './lib/report.js';

/** A load point's steps for the log: reached +ms, and the relay / claim hops' p50/p99. */
function timelineText(p: PhaseResult): string {
  const tail = (u: string) => p.p99Timeline.find((t) => t.useCase === u)?.claimedAfterMs;
  const probes = p.probes
    ? `; loop delay p99 ${p.probes.eventLoopDelayMs?.p99 ?? '–'} ms, GC ${p.probes.gc?.totalMs ?? '–'} ms, PostgreSQL waits ${
        p.probes.postgresWaits
          .slice(0, 3)
          .map((w) => `${w.wait} ${w.backends}`)
          .join(', ') || '–'
      }, driver CPU/saga ${p.driverCpuMsPerSaga ?? '–'} ms`
    : '';
  return (
    p.timeline
      .map(
        (t) =>
          `${t.useCase} +${t.relayedAfterMs}/+${t.claimedAfterMs} (p99 sagas +${tail(t.useCase) ?? '–'}; relay ${t.relay.p50}/${t.relay.p99}, claim ${t.claim.p50}/${t.claim.p99})`,
      )
      .join(', ') + probes
  );
}

type Adapter = 'memory' | 'bullmq' | 'ecs';
type Style = 'choreography' | 'orchestration';
const ADAPTERS: readonly Adapter[] = ['memory', 'bullmq', 'ecs'];
const STYLES: readonly Style[] = ['choreography', 'orchestration'];

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'bench/results');

/**
 * What production requires of a process on ECS (it runs with NODE_ENV=production here): a cluster,
 * subnets (the definitions are Fargate/awsvpc), a launch type, and a pinned revision per family
 * (the local endpoint serves the generated definitions as revision 1). Tasks exit after 2 s without
 * work, as before the ECS defaults fitted Fargate's billing: the bench measures throughput.
 */
function ecsProductionSettings(families: readonly string[]): Record<string, string> {
  return {
    ECS_CLUSTER: 'bench',
    ECS_LAUNCH_TYPE: 'FARGATE',
    ECS_SUBNETS: 'subnet-local',
    ECS_TASK_DEFINITION_REVISIONS: families.map((f) => `${f}:1`).join(','),
    TASK_IDLE_GRACE_MS: '2000',
  };
}

/** Customers of the hot-key saturation phase (issue 17's burst: 40). */
const HOT_CUSTOMERS = 40;

function option(name: string): string | undefined {
  const prefix = `--${name}=`;
  return process.argv.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}
function flag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}
function listOption<T extends string>(name: string, all: readonly T[]): T[] {
  const value = option(name);
  if (value === undefined) return [...all];
  const picked = value.split(',').map((v) => v.trim());
  const unknown = picked.filter((v) => !(all as readonly string[]).includes(v));
  if (unknown.length > 0) throw new Error(`--${name}: unknown ${unknown.join(', ')} (choose from ${all.join(', ')})`);
  return picked as T[];
}

const USAGE = `usage: npm run bench -- [options]
  builds, then measures saga throughput and latency of the compiled system against same-run
  baselines (about 10 minutes; --quick about one); writes bench/results/latest.json and its chart.
  --quick                  short phases
  --profile                the system processes run with --cpu-prof; writes profile summaries
  --adapters=memory,bullmq,ecs  --styles=choreography,orchestration   a partial run
  --in-flight=N            sagas kept running at saturation (64)
  --dist=DIR               another compiled tree   --out=FILE   --keep (keep the work directory)
  --skip=auth,tracing,databases   leave those comparisons out
  --render                 only rewrite the chart and BENCHMARKS.md from bench/results/latest.json
  --only=fargate           only the Fargate-time cost ladder
  Needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL, else found as the dev server finds them).`;
exitWithHelpIfAsked(process.argv.slice(2), USAGE);

/** A wrong option: one line naming it and exit 2 (a usage error), no stack trace. */
function usageOrExit<T>(make: () => T): T {
  try {
    return make();
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n`);
    process.exit(2);
  }
}

const quick = flag('quick');
const profile = flag('profile');
const adapters = usageOrExit(() => listOption('adapters', ADAPTERS));
const styles = usageOrExit(() => listOption('styles', STYLES));
const partial = adapters.length < ADAPTERS.length || styles.length < STYLES.length || option('dist') !== undefined;
const only = option('only');
const COMPARISONS = ['auth', 'tracing', 'databases'] as const;
const skippedComparisons = option('skip') === undefined ? [] : usageOrExit(() => listOption('skip', COMPARISONS));
if (only !== undefined && only !== 'fargate')
  usageOrExit(() => {
    throw new Error(`--only: unknown ${only} (only fargate can be run alone)`);
  });

/** Every phase is bounded in time; the whole run too. */
const plan = quick
  ? {
      stepWarmupMs: 1_000,
      stepMs: 2_000,
      bullmqJobs: 5_000,
      nodeStartRuns: 5,
      customers: 100,
      saturation: { warmupMs: 1_000, durationMs: 2_500, drainTimeoutMs: 15_000 },
      open: { warmupMs: 1_000, durationMs: 2_500, drainTimeoutMs: 15_000 },
      loadFractions: [0.5],
      runDeadlineMs: 150_000,
    }
  : {
      stepWarmupMs: 2_000,
      stepMs: 10_000,
      bullmqJobs: 30_000,
      nodeStartRuns: 11,
      customers: 500,
      saturation: { warmupMs: 3_000, durationMs: 15_000, drainTimeoutMs: 30_000 },
      open: { warmupMs: 2_000, durationMs: 12_000, drainTimeoutMs: 30_000 },
      loadFractions: [0.25, 0.5, 0.75, 0.9],
      runDeadlineMs: 30 * 60_000,
    };

/**
 * The system processes trace only when the bench asks (the "on" runs of measureTracingCost): the
 * OTEL_* variables of the bench's own environment would otherwise reach every process it starts,
 * the local ECS endpoint's tasks included, and send spans to wherever they point.
 */
const ignoredOtel = Object.keys(process.env).filter((k) => k.startsWith('OTEL_'));
for (const k of ignoredOtel) delete process.env[k];

const baseConfig = settingsOrExit(() => loadConfig(process.env));
// 32 left the system idle part of the time at its peak (measured: 131–156 sagas/s at 32 against 181–197 at 64, back to back).
const inFlight = Number(option('in-flight') ?? 64);
/** Another compiled tree of the system (an A/B comparison of two builds); dist/ by default. */
const dist = resolve(ROOT, option('dist') ?? 'dist');
const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
const runId = `${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}_${randomBytes(3).toString('hex')}`;
const prefixes: string[] = [];
const started = Date.now();

function log(message: string): void {
  process.stdout.write(`[bench ${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${message}\n`);
}

function checkDeadline(): void {
  if (Date.now() - started > plan.runDeadlineMs) throw new Error(`the bench ran past its ${plan.runDeadlineMs / 1000} s limit`);
}

function loopbackOnly(url: string, what: string): string {
  const host = new URL(url).hostname;
  if (!['127.0.0.1', 'localhost', '[::1]', '::1'].includes(host)) throw new Error(`${what} must be on loopback, not ${host}`);
  return url;
}

async function machine(serverUrl: string, redisUrl: string): Promise<Record<string, unknown>> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  const pgVersion = (await client.query<{ server_version: string }>('show server_version')).rows[0]?.server_version;
  await client.end();
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  const redisVersion = /^redis_version:(\S+)/m.exec(await redis.info('server'))?.[1];
  await redis.quit();
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return undefined;
    }
  };
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    memoryGb: round(totalmem() / 1024 ** 3),
    os: `${process.platform} ${release()}`,
    node: process.version,
    postgres: pgVersion,
    redis: redisVersion,
    gitCommit: git(['rev-parse', '--short', 'HEAD']),
    gitDirty: (git(['status', '--porcelain', '--', 'src']) ?? '') !== '',
    /** Other work on the machine skews every figure: the 1-minute load average when the run started. */
    loadAverageAtStart: round(loadavg()[0] ?? Number.NaN, 2),
  };
}

interface RunContext {
  readonly databases: BenchDatabases;
  readonly redisUrl: string;
  readonly workDir: string;
  readonly auth: BenchAuth;
}

interface StyleRun {
  readonly result: StyleResult;
  readonly deliveries: number;
}

/** `schema → url` of the modules a system's environment puts in a database of their own (`<MODULE>_DATABASE_URL`). */
function modulesElsewhere(env: Readonly<Record<string, string>>): Map<string, string> {
  const out = new Map<string, string>();
  for (const inbox of ALL_INBOXES) {
    const url = env[moduleDatabaseVariable(inbox.module)];
    if (url !== undefined && url !== env['DATABASE_URL']) out.set(inbox.schema, url);
  }
  return out;
}

/** One system process (adapter × style) on a fresh database: saturation, then fractions of it. */
async function runSystem(
  ctx: RunContext,
  adapter: Adapter,
  style: Style,
  prepare: (env: Record<string, string>) => Promise<Record<string, string>> = async () => ({}),
  /** A variant's name (its prefix and log file): measured at saturation only, for a comparison. */
  variant?: string,
  /** Called once the customers are registered, just before the saturation phase starts. */
  beforeSaturation?: () => void,
  /** A variant's open-loop points after its saturation phase (arrival rates, per second); none by default. */
  variantRates?: readonly number[],
): Promise<StyleRun> {
  const databaseUrl = await ctx.databases.clone(`${adapter.slice(0, 2)}_${style.slice(0, 2)}`);
  const prefix = `bench-${runId}-${adapter}-${style}${variant ? `-${variant}` : ''}`;
  prefixes.push(prefix);
  const env: Record<string, string> = {
    DATABASE_URL: databaseUrl,
    REDIS_URL: ctx.redisUrl,
    BULLMQ_PREFIX: prefix,
    EVENT_BUS: adapter,
    SAGA_STYLE: style,
    LOG_LEVEL: process.env['BENCH_LOG_LEVEL'] ?? 'warn',
    NODE_ENV: 'production',
    ...ctx.auth.env,
  };
  Object.assign(env, await prepare(env));
  const profileDir = profile ? join(ctx.workDir, `profile-${adapter}-${style}`) : undefined;
  if (profileDir) await mkdir(profileDir, { recursive: true });
  const system: SystemProcess = await startSystem({
    entrypoint: join(dist, 'dev/dev-server.js'),
    env,
    logFile: join(ctx.workDir, `system-${adapter}-${style}${variant ? `-${variant}` : ''}.log`),
    ...(profileDir ? { cpuProfileDir: profileDir } : {}),
    readyTimeoutMs: 60_000,
  });
  const http = new HttpClient(system.baseUrl, inFlight * 2 + 16, ctx.auth.headers);
  const db = BenchDb.open(
    databaseUrl,
    modulesElsewhere(env),
    ALL_INBOXES.map((i) => i.schema),
  );
  let peakRssMb: number;
  let hotKeys: StyleResult['hotKeys'];
  let consistency: ConsistencyCheck;
  const phases: PhaseResult[] = [];
  try {
    const customers = await registerCustomers(http, plan.customers, 16);
    const target = { http, db, customers, cpu: new CpuMeter(system.pid, db), probe: new WindowProbe(http, db) };
    log(`${adapter}/${style}: pid ${system.pid}, ${customers.length} customers; saturation with ${inFlight} sagas in flight`);
    beforeSaturation?.();
    const saturation = await runSaturation(target, inFlight, plan.saturation);
    phases.push(saturation);
    log(
      `${adapter}/${style}: saturation ${saturation.throughputPerSec}/s, p50 ${saturation.latencyMs.p50} ms, p99 ${saturation.latencyMs.p99} ms; POST p50 ${saturation.httpPostMs.p50} ms; CPU/saga ${saturation.cpuMsPerSaga.system} ms system + ${saturation.cpuMsPerSaga.postgres} ms PostgreSQL`,
    );
    log(`${adapter}/${style}:   timeline ${timelineText(saturation)}`);
    if (saturation.throughputPerSec === 0)
      throw new Error(
        `no saga completed at saturation (${saturation.unfinished} of ${saturation.posted} orders still PENDING after the drain)`,
      );
    const points =
      variantRates?.map((rate) => ({ rate, label: `${rate}/s` })) ??
      (variant ? [] : plan.loadFractions).map((fraction) => {
        const rate = Math.max(1, round(saturation.throughputPerSec * fraction));
        return { rate, label: `${fraction * 100}% = ${rate}/s` };
      });
    for (const { rate, label } of points) {
      checkDeadline();
      const point = await runOpenLoop(target, rate, plan.open, inFlight * 4);
      phases.push(point);
      log(
        `${adapter}/${style}: ${label} offered, ${point.throughputPerSec}/s done, p50 ${point.latencyMs.p50} ms, p99 ${point.latencyMs.p99} ms, max ${point.latencyMs.max} ms; CPU/saga ${point.cpuMsPerSaga.system} ms system`,
      );
      log(`${adapter}/${style}:   timeline ${timelineText(point)}`);
    }
    if (adapter !== 'memory' && !variant) {
      // Issue 17's hot keys: the same saturation on 40 customers only (delivery keys serialize each customer).
      checkDeadline();
      const hot = await runSaturation({ ...target, customers: customers.slice(0, HOT_CUSTOMERS) }, inFlight, plan.saturation);
      hotKeys = {
        customers: HOT_CUSTOMERS,
        throughputPerSec: hot.throughputPerSec,
        latencyMs: { p50: hot.latencyMs.p50, p99: hot.latencyMs.p99 },
        ratioToDistinct: round(hot.throughputPerSec / saturation.throughputPerSec, 3),
      };
      log(
        `${adapter}/${style}: hot keys (${HOT_CUSTOMERS} customers) ${hot.throughputPerSec}/s = ${hotKeys.ratioToDistinct} × distinct (target >= 0.5), p99 ${hot.latencyMs.p99} ms`,
      );
    }
    consistency = await checkConsistency(db);
    peakRssMb = await system.peakRssMb();
  } finally {
    http.close();
    const code = await system.stop();
    if (code !== 0)
      log(`${adapter}/${style}: the system exited with ${String(code)} (log: ${join(ctx.workDir, `system-${adapter}-${style}.log`)})`);
  }
  const deliveries = await deliveriesOf(db);
  await db.end();
  if (!consistency.ok) log(`${adapter}/${style}: CONSISTENCY CHECK FAILED ${JSON.stringify(consistency)}`);
  if (profileDir) await reportProfile(profileDir, adapter, style);
  const half = phases.find(
    (p) => p.kind === 'open-loop' && p.offeredPerSec !== null && Math.abs(p.offeredPerSec / phases[0]!.throughputPerSec - 0.5) < 0.02,
  );
  const reference = half ?? phases[phases.length - 1]!;
  const { p50, p95, p99, max } = reference.latencyMs;
  return {
    result: {
      throughputPerSec: phases[0]!.throughputPerSec,
      latencyMs: { p50, p95, p99, max },
      saturation: phases[0]!,
      loadPoints: phases.slice(1),
      peakRssMb,
      consistency,
      ...(hotKeys ? { hotKeys } : {}),
    },
    deliveries,
  };
}

/**
 * What verifying bearer tokens costs: CPU per saga at saturation (BullMQ, choreography) with
 * AUTH_MODE=jwt beside AUTH_MODE=off, in back-to-back pairs whose order alternates.
 */
async function measureAuthCost(ctx: RunContext): Promise<NonNullable<BenchResults['auth']>> {
  const pairs: Array<{ jwt: number; off: number }> = [];
  for (let i = 0; i < (quick ? 1 : 4); i++) {
    checkDeadline();
    const run = async (mode: 'jwt' | 'off') =>
      (await runSystem(ctx, 'bullmq', 'choreography', async () => (mode === 'off' ? AUTH_OFF_ENV : {}), `auth-${mode}-${i}`)).result
        .saturation.cpuMsPerSaga.system;
    const order: Array<'jwt' | 'off'> = i % 2 === 0 ? ['jwt', 'off'] : ['off', 'jwt'];
    const measured: Partial<Record<'jwt' | 'off', number>> = {};
    for (const mode of order) measured[mode] = await run(mode);
    pairs.push({ jwt: measured.jwt!, off: measured.off! });
    log(`auth: pair ${i + 1}: CPU per saga ${measured.jwt} ms with AUTH_MODE=jwt, ${measured.off} ms with off`);
  }
  const mean = (k: 'jwt' | 'off') => round(pairs.reduce((a, p) => a + p[k], 0) / pairs.length, 3);
  const overheadPct = round((mean('jwt') / mean('off') - 1) * 100, 1);
  log(`auth: CPU per saga ${mean('jwt')} ms (jwt) vs ${mean('off')} ms (off): ${overheadPct} % (target <= 10 %)`);
  return { adapter: 'bullmq', style: 'choreography', pairs, jwtCpuMsPerSaga: mean('jwt'), offCpuMsPerSaga: mean('off'), overheadPct };
}

/** The module the "databases" comparison moves to a database of its own. */
const MOVED_MODULE = orderInbox;

/**
 * What a module in its own database costs (issue 28): CPU per saga at saturation (BullMQ,
 * choreography) with every module in one database, beside the same with the Order module moved
 * to a database of its own (`ORDER_DATABASE_URL`, its schema dropped from the first), where every
 * message between the two crosses databases through the relay's two-commit path. Back-to-back
 * pairs whose order alternates, as for authentication; system CPU and PostgreSQL CPU both count,
 * since the second database's backends do work the first did alone.
 */
async function measureDatabasesCost(ctx: RunContext): Promise<NonNullable<BenchResults['databases']>> {
  type Layout = 'one' | 'split';
  const pairs: Array<Record<Layout, { system: number; postgres: number; throughputPerSec: number }>> = [];
  const variable = moduleDatabaseVariable(MOVED_MODULE.module);
  for (let i = 0; i < (quick ? 1 : 3); i++) {
    checkDeadline();
    const run = async (layout: Layout) => {
      const { saturation, consistency } = (
        await runSystem(
          ctx,
          'bullmq',
          'choreography',
          async (env) => {
            if (layout === 'one') return {};
            await dropSchemas(env['DATABASE_URL']!, [MOVED_MODULE.schema]);
            return { [variable]: await ctx.databases.empty(MOVED_MODULE.module) };
          },
          `databases-${layout}-${i}`,
        )
      ).result;
      if (!consistency.ok) throw new Error(`databases: the ${layout} run of pair ${i + 1} failed its consistency check`);
      return { ...saturation.cpuMsPerSaga, throughputPerSec: saturation.throughputPerSec };
    };
    const order: Layout[] = i % 2 === 0 ? ['one', 'split'] : ['split', 'one'];
    const measured: Partial<Record<Layout, Awaited<ReturnType<typeof run>>>> = {};
    for (const layout of order) measured[layout] = await run(layout);
    pairs.push({ one: measured.one!, split: measured.split! });
    log(
      `databases: pair ${i + 1}: CPU per saga ${measured.one!.system} + ${measured.one!.postgres} ms (system + PostgreSQL) in one database, ${measured.split!.system} + ${measured.split!.postgres} ms with ${MOVED_MODULE.module} in its own`,
    );
  }
  const mean = (layout: Layout, k: 'system' | 'postgres' | 'throughputPerSec') =>
    round(pairs.reduce((a, p) => a + p[layout][k], 0) / pairs.length, 3);
  const total = (layout: Layout) => mean(layout, 'system') + mean(layout, 'postgres');
  const overheadPct = round((total('split') / total('one') - 1) * 100, 1);
  log(
    `databases: CPU per saga ${round(total('split'), 3)} ms with ${MOVED_MODULE.module} in its own database vs ${round(total('one'), 3)} ms in one: ${overheadPct} %`,
  );
  return {
    adapter: 'bullmq',
    style: 'choreography',
    moved: MOVED_MODULE.module,
    pairs,
    one: {
      systemCpuMsPerSaga: mean('one', 'system'),
      postgresCpuMsPerSaga: mean('one', 'postgres'),
      throughputPerSec: mean('one', 'throughputPerSec'),
    },
    split: {
      systemCpuMsPerSaga: mean('split', 'system'),
      postgresCpuMsPerSaga: mean('split', 'postgres'),
      throughputPerSec: mean('split', 'throughputPerSec'),
    },
    overheadPct,
  };
}

/** The tracing comparison's offered rate, as a fraction of the main BullMQ choreography run's saturation throughput. */
const TRACING_LOAD_FRACTION = 0.5;

/** OTEL_BSP_SCHEDULE_DELAY of the "on" runs, ms (the SDK's default is 5,000). */
const TRACING_SCHEDULE_DELAY_MS = '1000';

type TracingPair = NonNullable<BenchResults['tracing']>['pairs'][number];

interface TracingRun {
  /** CPU ms per saga of the system process at the fixed offered rate: the comparison's figure. */
  readonly cpuMsPerSaga: number;
  /** The same at saturation, where the two modes do not do the same work (see measureTracingCost). */
  readonly saturationCpuMsPerSaga: number;
  readonly saturationPerSec: number;
  readonly spansPerSaga: number;
  readonly bytesPerSpan: number;
}

/**
 * One run of the tracing comparison: saturation (warm-up, and a figure for the record), then the
 * open loop at `rate`; what the receiver got from the start of the saturation phase to the
 * system's stop (its shutdown exports what it still held), per order placed in the two phases.
 */
async function tracingRun(ctx: RunContext, receiver: OtlpReceiver, mode: 'on' | 'off', pair: number, rate: number): Promise<TracingRun> {
  const onEnv = {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_BSP_SCHEDULE_DELAY: TRACING_SCHEDULE_DELAY_MS,
  };
  let mark = { spans: receiver.spans(), bytes: receiver.bytes() };
  const { saturation, loadPoints } = (
    await runSystem(
      ctx,
      'bullmq',
      'choreography',
      async () => (mode === 'on' ? onEnv : {}),
      `tracing-${mode}-${pair}`,
      () => (mark = { spans: receiver.spans(), bytes: receiver.bytes() }),
      [rate],
    )
  ).result;
  const fixed = loadPoints[0]!;
  const placed = saturation.posted + fixed.posted;
  const spans = receiver.spans() - mark.spans;
  if (mode === 'off' && spans > 0) throw new Error(`tracing: the "off" run of pair ${pair + 1} exported ${spans} spans`);
  if (mode === 'on' && spans === 0) {
    const rejected = receiver.rejected().slice(0, 3).join('; ') || 'none';
    throw new Error(
      `tracing: the "on" run of pair ${pair + 1} exported no span to ${receiver.endpoint} (${placed} orders placed; requests rejected: ${rejected}): tracing was not on, no figure`,
    );
  }
  if (fixed.unfinished > 0 || fixed.skippedArrivals > 0)
    throw new Error(
      `tracing: the ${mode} run of pair ${pair + 1} did not keep up with ${rate} sagas/s (${fixed.skippedArrivals} arrivals skipped, ${fixed.unfinished} sagas unfinished): no figure at that rate`,
    );
  return {
    cpuMsPerSaga: fixed.cpuMsPerSaga.system,
    saturationCpuMsPerSaga: saturation.cpuMsPerSaga.system,
    saturationPerSec: saturation.throughputPerSec,
    spansPerSaga: spans === 0 ? 0 : round(spans / placed, 1),
    bytesPerSpan: spans === 0 ? 0 : Math.round((receiver.bytes() - mark.bytes) / spans),
  };
}

/**
 * What tracing costs: CPU per saga of the system process (BullMQ, choreography) with every process
 * exporting its spans (OTLP/HTTP JSON) to a receiver in the bench, beside tracing off (no OTEL_*
 * variable at all), in back-to-back pairs whose order alternates, as for authentication. The "on"
 * runs must deliver spans, and the "off" runs none: otherwise the figure would not be what it says.
 *
 * The figure is taken at a fixed offered rate, `rate` (half the saturation throughput of the main
 * BullMQ choreography run), that both modes sustain: there both do the same work. At saturation
 * they do not: the machine's two cores are shared by the system, PostgreSQL and the load driver,
 * so tracing's extra CPU lowers the throughput, smaller batches follow, and each saga then costs
 * more for reasons that are not tracing's own. The saturation figures are recorded beside it.
 */
async function measureTracingCost(ctx: RunContext, rate: number): Promise<NonNullable<BenchResults['tracing']>> {
  const receiver = await startOtlpReceiver();
  const pairs: TracingPair[] = [];
  try {
    for (let i = 0; i < (quick ? 1 : 4); i++) {
      checkDeadline();
      const runs: Partial<Record<'on' | 'off', TracingRun>> = {};
      for (const mode of i % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const))
        runs[mode] = await tracingRun(ctx, receiver, mode, i, rate);
      const { on, off } = runs as Required<typeof runs>;
      pairs.push({
        on: on.cpuMsPerSaga,
        off: off.cpuMsPerSaga,
        saturation: {
          on: on.saturationCpuMsPerSaga,
          off: off.saturationCpuMsPerSaga,
          onPerSec: on.saturationPerSec,
          offPerSec: off.saturationPerSec,
        },
        spansPerSaga: on.spansPerSaga,
        bytesPerSpan: on.bytesPerSpan,
      });
      log(
        `tracing: pair ${i + 1}: CPU per saga at ${rate}/s ${on.cpuMsPerSaga} ms with tracing on (${on.spansPerSaga} spans per saga, ${on.bytesPerSpan} bytes of JSON per span), ${off.cpuMsPerSaga} ms off; at saturation ${on.saturationCpuMsPerSaga} ms on (${on.saturationPerSec}/s), ${off.saturationCpuMsPerSaga} ms off (${off.saturationPerSec}/s)`,
      );
    }
  } finally {
    await receiver.close();
  }
  if (receiver.rejected().length > 0)
    log(`tracing: the receiver rejected ${receiver.rejected().length} request(s), e.g. ${receiver.rejected()[0]}`);
  // The mean over the pairs of one of their figures.
  const mean = (figure: (p: TracingPair) => number, digits = 3) => round(pairs.reduce((a, p) => a + figure(p), 0) / pairs.length, digits);
  const on = mean((p) => p.on);
  const off = mean((p) => p.off);
  const saturation = { on: mean((p) => p.saturation.on), off: mean((p) => p.saturation.off) };
  const overheadPct = round((on / off - 1) * 100, 1);
  const saturationOverheadPct = round((saturation.on / saturation.off - 1) * 100, 1);
  const spansPerSaga = mean((p) => p.spansPerSaga, 1);
  log(
    `tracing: CPU per saga at ${rate}/s ${on} ms (on) vs ${off} ms (off): ${overheadPct} % (target <= 15 %); at saturation ${saturationOverheadPct} %; ${spansPerSaga} spans per saga`,
  );
  return {
    adapter: 'bullmq',
    style: 'choreography',
    onEnv: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:<port>', OTEL_BSP_SCHEDULE_DELAY: TRACING_SCHEDULE_DELAY_MS },
    offeredPerSec: rate,
    pairs,
    onCpuMsPerSaga: on,
    offCpuMsPerSaga: off,
    overheadPct,
    saturation: { onCpuMsPerSaga: saturation.on, offCpuMsPerSaga: saturation.off, overheadPct: saturationOverheadPct },
    spansPerSaga,
    bytesPerSpan: mean((p) => p.bytesPerSpan, 0),
  };
}

async function reportProfile(dir: string, adapter: Adapter, style: Style): Promise<void> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) {
    log(`${adapter}/${style}: no CPU profile was written`);
    return;
  }
  const summary = await summarizeProfile(join(dir, files[0]!), 40);
  const out = join(RESULTS, `profile-${adapter}-${style}.json.tmp`);
  await writeFile(out, `${JSON.stringify(summary, null, 2)}\n`);
  log(`${adapter}/${style}: profile (${files[0]}) summarised in ${out}`);
  for (const o of summary.byOrigin.slice(0, 12)) log(`  ${String(o.share).padStart(5)}%  ${o.origin}`);
}

/** `sinceSpawnMs` of every task's "first delivery committed" log line: what a cold task costs before it does useful work. */
async function firstDeliveryTimes(dir: string): Promise<number[]> {
  const times: number[] = [];
  for (const file of await readdir(dir).catch(() => [] as string[])) {
    for (const line of (await readFile(join(dir, file), 'utf8')).split('\n')) {
      if (!line.includes('first delivery committed')) continue;
      try {
        // The endpoint prefixes each line of a task's output with a timestamp, the container and the stream.
        const ms = (JSON.parse(line.slice(line.indexOf('{'))) as { sinceSpawnMs?: unknown }).sinceSpawnMs;
        if (typeof ms === 'number') times.push(ms);
      } catch {
        // not a JSON log line
      }
    }
  }
  return times;
}

async function runEcs(
  ctx: RunContext,
): Promise<{ styles: Partial<Record<Style, StyleResult>>; ecs: BenchResults['ecs']; reason?: string }> {
  const support = await detectEcs(ROOT, process.env['BENCH_ECS_TASK_DEFINITIONS_DIR'] ?? 'deploy/ecs');
  if (!support.ok) return { styles: {}, ecs: null, reason: support.reason };
  // Loaded only when the adapter exists, so a build without it does not pay for the import.
  const { startLocalEcs, silentEcsLocalLogger } = await import('../src/dev/ecs-local/index.js');
  const results: Partial<Record<Style, StyleResult>> = {};
  const aws = {
    AWS_REGION: 'us-east-1',
    // The local endpoint accepts any signature; the SDK only needs something to sign with.
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  const taskStarts: number[] = [];
  let runTaskCalls = 0;
  let tasksStarted = 0;
  let deliveries = 0;
  try {
    for (const style of quick ? (['choreography'] as Style[]).filter((s) => styles.includes(s)) : styles) {
      checkDeadline();
      let ecs: Awaited<ReturnType<typeof startLocalEcs>> | undefined;
      const taskLogDir = join(ctx.workDir, `ecs-tasks-${style}`);
      await mkdir(taskLogDir, { recursive: true });
      try {
        // Tasks get the system's settings (its database, Redis, this endpoint) from the endpoint's environment, as on AWS from their task definition.
        const run = await runSystem(ctx, 'ecs', style, async (env) => {
          const port = await freePort();
          const endpoint = { AWS_ENDPOINT_URL_ECS: `http://127.0.0.1:${port}`, ...aws, ...ecsProductionSettings(support.families) };
          ecs = await startLocalEcs({
            port,
            host: '127.0.0.1',
            taskDefinitionsDir: join(ROOT, support.taskDefinitionsDir),
            projectRoot: ROOT,
            // Tasks log at info so that each reports how long after its spawn it committed its first delivery.
            env: { ...env, ...endpoint, LOG_LEVEL: 'info' },
            taskLogDir,
            logger: silentEcsLocalLogger,
            stopTimeoutMs: 5_000,
          });
          return endpoint;
        });
        results[style] = run.result;
        const stats = ecs!.stats();
        runTaskCalls += stats.runTaskCalls;
        tasksStarted += stats.tasksStarted;
        deliveries += run.deliveries;
      } finally {
        await ecs?.close();
      }
      taskStarts.push(...(await firstDeliveryTimes(taskLogDir)));
    }
    if (taskStarts.length === 0) throw new Error('no ECS task reported its first delivery');
    return {
      styles: results,
      ecs: {
        runTaskCallsPerMessage: round(runTaskCalls / Math.max(1, deliveries), 4),
        tasksPerMessage: round(tasksStarted / Math.max(1, deliveries), 4),
        taskStartMs: round(median(taskStarts)),
        taskStartSamples: taskStarts.length,
        runTaskCalls,
        tasksStarted,
        deliveries,
      },
    };
  } catch (error) {
    return {
      styles: results,
      ecs: null,
      reason: `EVENT_BUS=ecs could not be benchmarked: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
    };
  }
}

/** The Fargate-time cost ladder (bench/lib/fargate-ladder.ts), or why it could not run. */
async function runFargate(ctx: RunContext): Promise<{ fargate: FargateResults } | { reason: string }> {
  const support = await detectEcs(ROOT, process.env['BENCH_ECS_TASK_DEFINITIONS_DIR'] ?? 'deploy/ecs');
  if (!support.ok) return { reason: support.reason };
  try {
    const fargate = await runFargateLadder(
      {
        root: ROOT,
        dist,
        databases: ctx.databases,
        redisUrl: ctx.redisUrl,
        workDir: ctx.workDir,
        taskDefinitionsDir: support.taskDefinitionsDir,
        productionSettings: ecsProductionSettings(support.families),
        auth: ctx.auth,
        runId,
        seed: 1,
        usePrefix: (prefix) => prefixes.push(prefix),
        log,
      },
      support.families,
      styles,
      quick ? 'quick' : 'full',
      command,
    );
    return { fargate };
  } catch (error) {
    return {
      reason: `the Fargate cost ladder could not be measured: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
    };
  }
}

function targets(results: Pick<BenchResults, 'baselines' | 'saga' | 'ecs' | 'auth' | 'tracing'>): {
  perRun: Record<string, Record<string, number>>;
  checks: TargetCheck[];
} {
  const perRun: Record<string, Record<string, number>> = {};
  const checks: TargetCheck[] = [];
  for (const [adapter, byStyle] of Object.entries(results.saga)) {
    for (const [style, r] of Object.entries(byStyle ?? {})) {
      if (!r) continue;
      const throughputRatio = round(r.throughputPerSec / results.baselines.sagaStepTps, 3);
      const latencyRatio = round(r.latencyMs.p99 / results.baselines.sagaStepLatencyMs, 1);
      perRun[`${adapter}.${style}`] = { throughputVsSagaStepTps: throughputRatio, p99HalfLoadVsSagaStepLatency: latencyRatio };
      if (adapter === 'bullmq' && style === 'choreography') {
        checks.push({
          name: 'completed sagas/s, BullMQ choreography ÷ raw saga-step TPS',
          value: throughputRatio,
          target: '>= 0.2',
          met: throughputRatio >= 0.2,
        });
      }
      checks.push({
        name: `p99 at half of saturation, ${adapter} ${style} ÷ raw saga-step latency`,
        value: latencyRatio,
        target: '<= 30',
        met: latencyRatio <= 30,
      });
      if (r.hotKeys) {
        perRun[`${adapter}.${style}`] = { ...perRun[`${adapter}.${style}`], hotKeysVsDistinct: r.hotKeys.ratioToDistinct };
        checks.push({
          name: `saturation on ${r.hotKeys.customers} hot customers ÷ on distinct customers, ${adapter} ${style}`,
          value: r.hotKeys.ratioToDistinct,
          target: '>= 0.5',
          met: r.hotKeys.ratioToDistinct >= 0.5,
        });
      }
    }
  }
  const ecs = results.ecs;
  if (ecs) {
    const deliveries = Number(ecs['deliveries']);
    const tasks = Number(ecs['tasksStarted']);
    if (tasks > 0 && Number.isFinite(deliveries)) {
      const perTask = round(deliveries / tasks, 1);
      perRun['ecs'] = { ...perRun['ecs'], messagesPerTaskStarted: perTask };
      checks.push({ name: 'ECS: messages per task started under a burst', value: perTask, target: '>= 25', met: perTask >= 25 });
    }
    if (ecs.taskStartMs !== undefined && Number.isFinite(ecs.taskStartMs) && results.baselines.nodeStartMs > 0) {
      const startRatio = round(ecs.taskStartMs / results.baselines.nodeStartMs, 1);
      perRun['ecs'] = { ...perRun['ecs'], taskStartVsNodeStart: startRatio };
      checks.push({
        name: "ECS: a task's spawn to its first committed delivery ÷ node -e 0",
        value: startRatio,
        target: '<= 10',
        met: startRatio <= 10,
      });
    }
  }
  if (results.auth) {
    perRun['auth'] = { cpuPerSagaJwtVsOffPct: results.auth.overheadPct };
    checks.push({
      name: 'CPU per saga with AUTH_MODE=jwt ÷ off, BullMQ choreography, minus 1',
      value: results.auth.overheadPct,
      target: '<= 10 %',
      met: results.auth.overheadPct <= 10,
    });
  }
  if (results.tracing) {
    perRun['tracing'] = {
      cpuPerSagaTracingOnVsOffPct: results.tracing.overheadPct,
      cpuPerSagaAtSaturationOnVsOffPct: results.tracing.saturation.overheadPct,
      spansPerSaga: results.tracing.spansPerSaga,
    };
    checks.push({
      name: 'CPU per saga with tracing on (OTLP/HTTP to a local receiver) ÷ off at half saturation, BullMQ choreography, minus 1',
      value: results.tracing.overheadPct,
      target: '<= 15 %',
      met: results.tracing.overheadPct <= 15,
    });
  }
  return { perRun, checks };
}

/** The chart, and (after a full run) the results section of BENCHMARKS.md, from a run's results. */
async function writeArtifacts(results: BenchResults): Promise<void> {
  const series: ChartSeries[] = Object.entries(results.saga).flatMap(([a, byStyle]) =>
    Object.entries(byStyle ?? {}).flatMap(([s, r]) =>
      r
        ? [
            {
              label: `${a} ${s}`,
              points: [...r.loadPoints, r.saturation].map((p) => ({ x: p.throughputPerSec, p50: p.latencyMs.p50, p99: p.latencyMs.p99 })),
            },
          ]
        : [],
    ),
  );
  const title = `Saga latency against load (${results.mode} run, ${String(results.machine['cpus'])} cores)`;
  await writeFile(join(RESULTS, 'latency-vs-load.svg'), latencyChart(title, series));
  log(`wrote ${join(RESULTS, 'latency-vs-load.svg')}`);
  if (results.mode === 'full') {
    const mdPath = join(ROOT, 'BENCHMARKS.md');
    const current = existsSync(mdPath) ? await readFile(mdPath, 'utf8') : '# Benchmarks\n';
    await writeFile(mdPath, replaceResultsSection(current, renderResultsSection(results)));
    log('updated the results section of BENCHMARKS.md');
  }
}

async function readStoredResults(file: string): Promise<BenchResults> {
  if (!existsSync(file))
    throw new Error(`--only=fargate merges the ladder into ${file}, which does not exist: run \`npm run bench\` (or --quick) first`);
  return JSON.parse(await readFile(file, 'utf8')) as BenchResults;
}

/** --only=fargate: the ladder alone, written into the stored results' `ecs.fargate`; the rest of the file is kept. */
async function mergeFargate(ctx: RunContext, stored: BenchResults, file: string): Promise<boolean> {
  const ladder = await runFargate(ctx);
  if (!('fargate' in ladder)) {
    log(`ecs.fargate: ${ladder.reason}`);
    return false;
  }
  const { ['ecs.fargate']: _old, ...skipped } = stored.skipped ?? {};
  const results: BenchResults = { ...stored, ecs: { ...(stored.ecs ?? {}), fargate: ladder.fargate }, skipped };
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  log(`merged ecs.fargate into ${file}`);
  if (file === join(RESULTS, 'latest.json')) await writeArtifacts(results);
  return true;
}

async function main(): Promise<void> {
  if (flag('render')) {
    // Re-renders the chart and BENCHMARKS.md from bench/results/latest.json without running anything
    // (the ratios are computed again from its figures, so a new target applies to a stored run).
    const stored = JSON.parse(await readFile(join(RESULTS, 'latest.json'), 'utf8')) as BenchResults;
    const { perRun, checks } = targets(stored);
    const results: BenchResults = { ...stored, ratios: { ...perRun, targets: checks } };
    await writeFile(join(RESULTS, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
    await writeArtifacts(results);
    return;
  }
  if (!existsSync(join(dist, 'dev/dev-server.js')))
    throw new Error(`${dist} has no dev/dev-server.js: \`npm run bench\` builds dist/ (npm run build)`);
  const serverUrl = loopbackOnly(process.env['BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres', 'BENCH_DATABASE_URL');
  const redisUrl = loopbackOnly(process.env['BENCH_REDIS_URL'] ?? 'redis://127.0.0.1:6379', 'BENCH_REDIS_URL');
  const resultsFile = option('out') ? resolve(option('out')!) : join(RESULTS, 'latest.json');
  // --only=fargate merges into a results file: read it before measuring anything.
  const stored = only === 'fargate' ? await readStoredResults(resultsFile) : undefined;
  const workDir = await mkdtemp(join(tmpdir(), 'saga-bench-'));
  const databases = new BenchDatabases(serverUrl, runId);
  const ctx: RunContext = { databases, redisUrl, workDir, auth: await benchAuth() };
  let failed = false;
  const interrupted = () => {
    log('interrupted: cleaning up');
    void cleanup().finally(() => process.exit(130));
  };
  const cleanup = async () => {
    await databases.dropAll();
    for (const p of prefixes) await deleteKeysWithPrefix(redisUrl, p).catch(() => undefined);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    log(`${quick ? 'quick' : 'full'} run ${runId}: ${command}`);
    if (ignoredOtel.length > 0) log(`ignoring ${ignoredOtel.join(', ')} of the environment: only the tracing comparison traces`);
    const machineInfo = await machine(serverUrl, redisUrl);
    await databases.createTemplate();
    if (stored) {
      failed = !(await mergeFargate(ctx, stored, resultsFile));
      return;
    }

    const stepDb = await databases.clone('baseline');
    const step = await measureSagaStep(stepDb, baseConfig.DB_POOL_SIZE, plan.stepWarmupMs, plan.stepMs);
    log(`baseline saga step (raw pg, pool ${step.poolSize}): ${step.tps} tx/s, ${step.meanLatencyMs} ms mean`);
    const bullPrefix = `bench-${runId}-baseline`;
    prefixes.push(bullPrefix);
    const bull = await measureBullMq(redisUrl, bullPrefix, plan.bullmqJobs, baseConfig.WORKER_CONCURRENCY, 60_000);
    log(
      `baseline BullMQ (concurrency ${bull.concurrency}): ${bull.jobsPerSec} jobs/s added and processed (${bull.addOnlyPerSec}/s add only)`,
    );
    const nodeStartMs = measureNodeStart(plan.nodeStartRuns);
    log(`baseline node -e 0: ${nodeStartMs} ms (median of ${plan.nodeStartRuns})`);

    const saga: BenchResults['saga'] = {};
    const skipped: Record<string, string> = {};
    for (const adapter of adapters.filter((a): a is Exclude<Adapter, 'ecs'> => a !== 'ecs')) {
      saga[adapter] = {};
      for (const style of styles) {
        checkDeadline();
        saga[adapter]![style] = (await runSystem(ctx, adapter, style)).result;
      }
    }
    const comparable = adapters.includes('bullmq') && styles.includes('choreography') && !profile;
    const comparisonSkipped = 'needs the bullmq adapter and the choreography style, without --profile';
    const auth = comparable && !skippedComparisons.includes('auth') ? await measureAuthCost(ctx) : null;
    if (!auth) skipped['auth'] = skippedComparisons.includes('auth') ? 'left out with --skip' : comparisonSkipped;
    const reference = saga.bullmq?.choreography?.throughputPerSec ?? 0;
    const tracing =
      comparable && !skippedComparisons.includes('tracing')
        ? await measureTracingCost(ctx, Math.max(1, Math.round(reference * TRACING_LOAD_FRACTION)))
        : null;
    if (!tracing) skipped['tracing'] = skippedComparisons.includes('tracing') ? 'left out with --skip' : comparisonSkipped;
    const layouts = comparable && !skippedComparisons.includes('databases') ? await measureDatabasesCost(ctx) : null;
    if (!layouts) skipped['databases'] = skippedComparisons.includes('databases') ? 'left out with --skip' : comparisonSkipped;
    let ecs: BenchResults['ecs'] = null;
    if (adapters.includes('ecs')) {
      const outcome = await runEcs(ctx);
      ecs = outcome.ecs;
      saga.ecs = Object.keys(outcome.styles).length > 0 ? outcome.styles : null;
      if (outcome.reason) {
        skipped['ecs'] = outcome.reason;
        log(`ecs: skipped: ${outcome.reason}`);
      }
      if (!profile) {
        checkDeadline();
        const ladder = await runFargate(ctx);
        if ('fargate' in ladder) ecs = { ...(ecs ?? {}), fargate: ladder.fargate };
        else {
          skipped['ecs.fargate'] = ladder.reason;
          log(`ecs.fargate: skipped: ${ladder.reason}`);
        }
      }
    }

    const baselines: BenchResults['baselines'] = {
      sagaStepTps: step.tps,
      sagaStepLatencyMs: step.meanLatencyMs,
      bullmqJobsPerSec: bull.jobsPerSec,
      nodeStartMs,
      details: { sagaStep: step, bullmq: bull },
    };
    const runs = Object.entries(saga).flatMap(([a, byStyle]) =>
      Object.entries(byStyle ?? {}).map(([s, r]) => [`${a}.${s}`, r?.peakRssMb ?? Number.NaN] as const),
    );
    const { perRun, checks } = targets({ baselines, saga, ecs, auth, tracing });
    const results: BenchResults = {
      generatedAt: new Date().toISOString(),
      command,
      mode: quick ? 'quick' : 'full',
      durationSec: Math.round((Date.now() - started) / 1000),
      machine: { ...machineInfo, loadAverageAtEnd: round(loadavg()[0] ?? Number.NaN, 2) },
      settings: {
        DB_POOL_SIZE: baseConfig.DB_POOL_SIZE,
        WORKER_CONCURRENCY: baseConfig.WORKER_CONCURRENCY,
        RELAY_BATCH_SIZE: baseConfig.RELAY_BATCH_SIZE,
        customers: plan.customers,
        sagasInFlightAtSaturation: inFlight,
        saturation: plan.saturation,
        openLoop: plan.open,
        loadFractions: plan.loadFractions,
        systemLogLevel: process.env['BENCH_LOG_LEVEL'] ?? 'warn',
      },
      baselines,
      saga,
      auth,
      tracing,
      databases: layouts,
      ecs,
      memory: { peakRssMb: Math.max(...runs.map(([, v]) => v).filter(Number.isFinite)), byRun: Object.fromEntries(runs) },
      ratios: { ...perRun, targets: checks },
      skipped,
    };

    await mkdir(RESULTS, { recursive: true });
    const jsonOut = option('out')
      ? resultsFile
      : profile
        ? join(RESULTS, 'profile.json.tmp')
        : partial
          ? join(RESULTS, 'partial.json.tmp')
          : join(RESULTS, 'latest.json');
    await writeFile(jsonOut, `${JSON.stringify(results, null, 2)}\n`);
    log(`wrote ${jsonOut}`);
    if (!profile && !partial) await writeArtifacts(results);
    for (const c of checks) log(`target ${c.met ? 'MET   ' : 'MISSED'} ${c.name}: ${c.value} (target ${c.target})`);
    const broken = Object.entries(saga).flatMap(([a, byStyle]) =>
      Object.entries(byStyle ?? {})
        .filter(([, r]) => r && !r.consistency.ok)
        .map(([s]) => `${a}/${s}`),
    );
    if (broken.length > 0) {
      failed = true;
      log(`consistency check failed for ${broken.join(', ')}: the numbers above are not valid`);
    }
  } catch (error) {
    failed = true;
    log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    log(`system logs kept in ${workDir}`);
  } finally {
    await cleanup();
    if (!failed && !profile && !flag('keep')) await rm(workDir, { recursive: true, force: true });
    else log(`work directory: ${workDir}`);
    // Here, not after the block: --only=fargate returns from inside it.
    log(`done in ${Math.round((Date.now() - started) / 1000)} s`);
    process.exit(failed ? 1 : 0);
  }
}

void main();
