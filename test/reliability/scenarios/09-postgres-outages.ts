import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { DescribeTasksCommand, ECSClient, ListTasksCommand } from '@aws-sdk/client-ecs';
import { request } from '../harness/http.js';
import { assertSettled, type SettleResult } from '../harness/invariants.js';
import { emptyStats, OrderLoad, registerCustomers, summarizeStats, type Customer } from '../harness/load.js';
import type { Scenario, ScenarioContext } from '../harness/scenario.js';
import type { SystemProcess } from '../harness/system-process.js';
import { assert, freePort, sleep, waitFor } from '../harness/util.js';

/**
 * An RDS reboot or a Multi-AZ failover, every few seconds: PostgreSQL killed with an immediate
 * shutdown (SIGQUIT to the postmaster: every session cut where it stood, crash recovery at the next
 * start) at random moments, over and over, while careful clients keep placing and cancelling
 * orders. Every kind of process runs at once, each against its own database of the one server, so
 * each outage hits all of them at whatever they were doing:
 *
 * | topology | processes | transport | style |
 * |---|---|---|---|
 * | dev-memory | dev server | in-process | choreography |
 * | dev-bullmq | dev server | BullMQ | orchestration |
 * | api-worker | production API + worker | BullMQ | choreography |
 * | dev-ecs | dev server + local ECS endpoint, one task process per use-case run | ECS | choreography |
 * | api-sweeper-ecs | production API + the sweeper run every second + local ECS endpoint and its tasks | ECS | orchestration |
 *
 * Asserted: no long-lived process exits; every sweeper run exits 0 (it waits for PostgreSQL); every
 * task exits 0 or 75 (EX_TEMPFAIL: PostgreSQL away at its start); every readiness probe answered
 * during an outage is a 503 problem (never a hang, never a refused connection); every accepted
 * order is decided, none by its deadline; nothing is dead-lettered; the consistency checks hold.
 */

interface Topology {
  readonly name: string;
  readonly style: 'choreography' | 'orchestration';
  readonly databaseUrl: string;
  /** Where the clients send their requests (the dev server or the API). */
  readonly api: SystemProcess;
  /** Every process that must never exit by itself. */
  readonly longLived: readonly SystemProcess[];
  /** The processes with a readiness probe (HTTP servers). */
  readonly probed: readonly SystemProcess[];
  readonly endpoint?: SystemProcess;
  readonly sweeper?: PeriodicSweeper;
}

type ProbeAnswer = 'not-ready' | 'other';

const TOPOLOGY_NAMES = ['dev-memory', 'dev-bullmq', 'api-worker', 'dev-ecs', 'api-sweeper-ecs'] as const;

/** Settings every topology shares: small pools (five systems and their tasks share one server's 100 connections). */
const SHARED_ENV: Record<string, string> = {
  DB_POOL_SIZE: '3',
  TASK_CONCURRENCY: '1',
  DB_CONNECTION_BUDGET: '60',
};

/** The ECS transport's settings here: short leases and grace, quick breaker, so a run takes a few minutes. */
const ECS_ENV: Record<string, string> = {
  EVENT_BUS: 'ecs',
  ECS_CLUSTER: 'local',
  ECS_LAUNCH_TYPE: 'FARGATE',
  ECS_SUBNETS: 'subnet-local',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'reliability',
  AWS_SECRET_ACCESS_KEY: 'reliability',
  LEASE_TTL_MS: '5000',
  TASK_IDLE_GRACE_MS: '2000',
  TASK_START_TIMEOUT_MS: '30000',
  ECS_RETRY_BASE_MS: '200',
  ECS_RETRY_MAX_MS: '2000',
};

/** The sweeper as its EventBridge schedule runs it (every minute on AWS; every second here), its exit codes kept. */
class PeriodicSweeper {
  readonly exitCodes: Array<number | null> = [];
  private stopped = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly entry: string,
    private readonly cwd: string,
    private readonly env: Record<string, string>,
  ) {}

  start(): void {
    this.running = (async () => {
      while (!this.stopped) {
        const child = spawn(process.execPath, [this.entry], { cwd: this.cwd, env: this.env, stdio: 'ignore' });
        this.exitCodes.push(await new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))));
        await sleep(1_000);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }
}

/** Runs a one-off entrypoint (the migrations) to its end; throws unless it exits 0. */
async function runToEnd(entry: string, cwd: string, env: Record<string, string>): Promise<void> {
  const child = spawn(process.execPath, [entry], { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  if (code !== 0) throw new Error(`${entry} exited ${String(code)}: ${stderr.slice(-2_000)}`);
}

async function startEndpoint(ctx: ScenarioContext, name: string, port: number, env: Record<string, string>): Promise<SystemProcess> {
  const endpoint = await ctx.createProcess({
    name,
    entry: join(ctx.distDir, 'dev', 'cli', 'ecs-local.js'),
    port,
    readyPath: '/_local/health',
    env: {
      ...env,
      ECS_LOCAL_HOST: '127.0.0.1',
      ECS_LOCAL_PORT: String(port),
      ECS_LOCAL_TASK_DEFINITIONS_DIR: join(ctx.projectRoot, 'deploy', 'ecs'),
      // Task definitions run `node dist/tasks/...`: from here, that is the suite's own build.
      ECS_LOCAL_PROJECT_ROOT: join(ctx.projectRoot, 'test', 'reliability'),
      ECS_LOCAL_TASK_LOG_DIR: join(ctx.workDir, `tasks-${name}`),
      ECS_LOCAL_STOP_TIMEOUT_MS: '5000',
    },
  });
  await endpoint.start();
  return endpoint;
}

async function startTopology(ctx: ScenarioContext, name: (typeof TOPOLOGY_NAMES)[number]): Promise<Topology> {
  const style = name === 'dev-bullmq' || name === 'api-sweeper-ecs' ? 'orchestration' : 'choreography';
  const base: Record<string, string> = { ...SHARED_ENV, SAGA_STYLE: style };
  if (name === 'dev-memory') base['EVENT_BUS'] = 'memory';
  const ecs = name === 'dev-ecs' || name === 'api-sweeper-ecs';
  const endpointPort = ecs ? await freePort() : undefined;
  const handle = await ctx.createSystem({
    ...base,
    ...(ecs ? { ...ECS_ENV, AWS_ENDPOINT_URL_ECS: `http://127.0.0.1:${endpointPort}` } : {}),
  });
  const { env, databaseUrl } = handle;
  const endpoint = endpointPort === undefined ? undefined : await startEndpoint(ctx, `ecs-local-${name}`, endpointPort, env);
  if (name.startsWith('dev-')) {
    await handle.system.start();
    return {
      name,
      style,
      databaseUrl,
      api: handle.system,
      longLived: [handle.system],
      probed: [handle.system],
      ...(endpoint ? { endpoint } : {}),
    };
  }
  // The production shape: migrations first (a one-off task), then the API, and a worker or the sweeper.
  await runToEnd(join(ctx.distDir, 'entrypoints', 'migrate.js'), ctx.projectRoot, env);
  const api = await ctx.createProcess({
    name: `${name}-api`,
    entry: join(ctx.distDir, 'entrypoints', 'api-server.js'),
    env,
    readyPath: '/health/live',
  });
  await api.start();
  if (name === 'api-worker') {
    const metricsPort = await freePort();
    const worker = await ctx.createProcess({
      name: `${name}-worker`,
      entry: join(ctx.distDir, 'entrypoints', 'worker.js'),
      port: metricsPort,
      env: { ...env, METRICS_PORT: String(metricsPort) },
      readyPath: '/health/live',
    });
    await worker.start();
    return { name, style, databaseUrl, api, longLived: [api, worker], probed: [api, worker] };
  }
  const sweeper = new PeriodicSweeper(join(ctx.distDir, 'entrypoints', 'sweeper.js'), ctx.projectRoot, env);
  sweeper.start();
  return { name, style, databaseUrl, api, longLived: [api], probed: [api], ...(endpoint ? { endpoint } : {}), sweeper };
}

/**
 * Every task the endpoint ran, by its container's exit code, read back through the ECS API as an
 * operator would, once all of them have stopped (idle tasks exit after TASK_IDLE_GRACE_MS).
 */
async function taskExitCodes(endpointUrl: string): Promise<Record<string, number>> {
  const ecs = new ECSClient({
    endpoint: endpointUrl,
    region: 'us-east-1',
    credentials: { accessKeyId: 'reliability', secretAccessKey: 'reliability' },
  });
  const codes: Record<string, number> = {};
  try {
    await waitFor(
      'every task to stop',
      async () =>
        (await ecs.send(new ListTasksCommand({ cluster: 'local', desiredStatus: 'RUNNING' }))).taskArns?.length ? undefined : true,
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    let nextToken: string | undefined;
    do {
      const page = await ecs.send(
        new ListTasksCommand({ cluster: 'local', desiredStatus: 'STOPPED', maxResults: 100, ...(nextToken ? { nextToken } : {}) }),
      );
      const arns = page.taskArns ?? [];
      if (arns.length > 0) {
        const described = await ecs.send(new DescribeTasksCommand({ cluster: 'local', tasks: arns }));
        for (const task of described.tasks ?? []) {
          const code = String(task.containers?.[0]?.exitCode ?? task.stopCode ?? 'unknown');
          codes[code] = (codes[code] ?? 0) + 1;
        }
      }
      nextToken = page.nextToken;
    } while (nextToken);
  } finally {
    ecs.destroy();
  }
  return codes;
}

/** Asks every probed process for readiness every 250 ms while PostgreSQL is down. */
class ReadinessProbe {
  readonly answers = new Map<string, ProbeAnswer[]>();
  readonly odd: string[] = [];
  private stopped = true;
  private running: Promise<unknown> | undefined;

  constructor(private readonly processes: ReadonlyArray<{ readonly label: string; readonly process: SystemProcess }>) {}

  start(): void {
    this.stopped = false;
    this.running = Promise.all(this.processes.map((p) => this.loop(p.label, p.process)));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private async loop(label: string, process: SystemProcess): Promise<void> {
    while (!this.stopped) {
      const attempt = await request(process.baseUrl, 'GET', '/health/ready', { timeoutMs: 5_000 });
      // PostgreSQL is down for the whole probe: "ready" would be a lie, a refused connection or a hang a dead process.
      const answer: ProbeAnswer =
        attempt.ok && attempt.response.status === 503 && attempt.response.contentType.startsWith('application/problem+json')
          ? 'not-ready'
          : 'other';
      if (answer === 'other')
        this.odd.push(`${label}: ${attempt.ok ? `${attempt.response.status} ${attempt.response.text.slice(0, 200)}` : attempt.error}`);
      this.answers.set(label, [...(this.answers.get(label) ?? []), answer]);
      await sleep(250);
    }
  }
}

/** The long-lived processes that exited by themselves (each is a failure: a dead system's clients would retry until their deadline). */
function deaths(topologies: readonly Topology[]): string[] {
  return topologies.flatMap((t) => t.longLived.flatMap((p, i) => p.unexpectedExits.map((e) => `${t.name}#${i} (${JSON.stringify(e)})`)));
}

/** Resolves when `work` does; fails as soon as a long-lived process has died instead of waiting on clients that cannot finish. */
async function unlessOneDies<T>(topologies: readonly Topology[], work: Promise<T>): Promise<T> {
  let watching = true;
  work.finally(() => (watching = false)).catch(() => undefined);
  const watch = (async () => {
    while (watching) {
      const dead = deaths(topologies);
      assert(dead.length === 0, `a long-lived process exited by itself: ${dead.join('; ')}`);
      await sleep(200);
    }
  })();
  return (await Promise.all([work, watch]))[0];
}

export const postgresOutages: Scenario = {
  id: 'postgres-outages',
  number: 9,
  title: 'PostgreSQL crashed again and again under every kind of process, on every transport',
  async run(ctx: ScenarioContext) {
    const outages = ctx.quick ? 10 : 20;
    // Once in a full run, an outage as long as a slow failover: every process must wait it out.
    const longOutageMs = ctx.quick ? undefined : 40_000;
    const rate = ctx.quick ? 3 : 4;
    const topologies: Topology[] = [];
    for (const name of TOPOLOGY_NAMES) topologies.push(await startTopology(ctx, name));
    ctx.log('topologies started', { topologies: topologies.map((t) => t.name) });

    const loads: Array<{ topology: Topology; load: OrderLoad; customers: Customer[]; done: Promise<void> }> = [];
    for (const topology of topologies) {
      const customers = await registerCustomers(topology.api.baseUrl, 10, ctx.random, emptyStats());
      const load = new OrderLoad({
        baseUrl: topology.api.baseUrl,
        customers,
        orders: 100_000,
        concurrency: 4,
        random: ctx.random,
        cancelShare: 0.1,
        unknownCustomerShare: 0.01,
        otherCurrencyShare: 0.01,
        requestTimeoutMs: 15_000,
        maxDurationMs: 15 * 60_000,
        keyPrefix: `pgo-${topology.name}-${ctx.seed}`,
        ratePerSecond: rate,
      });
      loads.push({ topology, load, customers, done: load.start() });
    }

    const probe = new ReadinessProbe(topologies.flatMap((t) => t.probed.map((p, i) => ({ label: `${t.name}#${i}`, process: p }))));
    const downs: number[] = [];
    const longAt = longOutageMs === undefined ? -1 : Math.floor(outages / 2);
    for (let i = 0; i < outages; i++) {
      await unlessOneDies(topologies, sleep(ctx.random.int(1_500, 5_000)));
      const downMs = i === longAt ? longOutageMs! : ctx.random.int(300, 3_000);
      await ctx.postgres.crash();
      probe.start();
      await sleep(downMs);
      await probe.stop();
      await ctx.postgres.restart();
      downs.push(downMs);
      ctx.log(`outage ${i + 1}/${outages}`, { downMs, accepted: loads.map((l) => l.load.acceptedCount) });
    }
    // A little traffic after the last outage, then the clients finish what they started.
    await sleep(3_000);
    for (const { load } of loads) load.stopPlacing();
    await unlessOneDies(topologies, Promise.all(loads.map((l) => l.done)));
    await Promise.all(topologies.map((t) => t.sweeper?.stop()));

    const settled: Record<string, SettleResult> = {};
    await Promise.all(
      loads.map(async ({ topology, load, customers }) => {
        settled[topology.name] = await assertSettled({
          databaseUrl: topology.databaseUrl,
          intended: load.intended,
          knownCustomers: new Set(customers.map((c) => c.id)),
          allowTimeouts: false,
          timeoutMs: 120_000,
        });
      }),
    );

    const tasks: Record<string, Record<string, number>> = {};
    for (const t of topologies) if (t.endpoint) tasks[t.name] = await taskExitCodes(t.endpoint.baseUrl);
    const dead = deaths(topologies);
    assert(dead.length === 0, `a long-lived process exited by itself: ${dead.join('; ')}`);
    for (const t of topologies) for (const p of t.longLived) assert(p.starts === 1, `${t.name}: a process was restarted`);
    const sweeps = topologies.flatMap((t) => t.sweeper?.exitCodes ?? []);
    assert(sweeps.length > 0 && sweeps.every((c) => c === 0), `a sweeper run did not exit 0: ${JSON.stringify(sweeps)}`);
    for (const [name, codes] of Object.entries(tasks)) {
      const other = Object.keys(codes).filter((c) => c !== '0' && c !== '75');
      assert(
        other.length === 0,
        `${name}: tasks exited with ${JSON.stringify(codes)}; only 0 and 75 (PostgreSQL away at start) are expected`,
      );
      assert((codes['0'] ?? 0) > 0, `${name}: no task ran to its end: ${JSON.stringify(codes)}`);
    }
    for (const { topology, load } of loads) {
      assert(load.stats.timeouts === 0, `${topology.name}: ${load.stats.timeouts} requests timed out (hung)`);
      assert((load.stats.byStatus[500] ?? 0) === 0, `${topology.name}: ${load.stats.byStatus[500]} requests answered 500`);
      assert(load.stats.unexpected.length === 0, `${topology.name}: unexpected answers: ${load.stats.unexpected.slice(0, 5).join('; ')}`);
    }
    assert(probe.odd.length === 0, `readiness during an outage must be a 503 problem: ${probe.odd.slice(0, 5).join('; ')}`);
    const notReady = [...probe.answers].filter(([, answers]) => !answers.includes('not-ready')).map(([label]) => label);
    assert(notReady.length === 0, `never reported not ready during the outages: ${notReady.join(', ')}`);

    return {
      load: `${TOPOLOGY_NAMES.length} systems at once (${topologies.map((t) => `${t.name}: ${t.style}`).join('; ')}), each with 4 careful clients placing up to ${rate} orders/s (10% cancelled once approved)`,
      faults: `${outages} PostgreSQL crashes (immediate shutdown) at random moments, each down ${Math.min(...downs)}–${Math.max(...downs)} ms`,
      lost: 0,
      recoveryMs: Math.max(...Object.values(settled).map((s) => s.settleMs)),
      invariants: settled[TOPOLOGY_NAMES[0]]!,
      figures: {
        outagesMs: downs,
        accepted: Object.fromEntries(loads.map((l) => [l.topology.name, l.load.acceptedCount])),
        http: Object.fromEntries(loads.map((l) => [l.topology.name, summarizeStats(l.load.stats)])),
        readiness: Object.fromEntries(
          [...probe.answers].map(([label, answers]) => [label, answers.filter((a) => a === 'not-ready').length]),
        ),
        sweeperRuns: sweeps.length,
        taskExitCodes: tasks,
        settleMs: Object.fromEntries(Object.entries(settled).map(([name, s]) => [name, s.settleMs])),
        ordersByStatus: Object.fromEntries(Object.entries(settled).map(([name, s]) => [name, s.ordersByStatus])),
      },
    };
  },
};
