/**
 * `npx tsx bench/task-start.ts`: the cold start of a compiled ECS task entrypoint, the way
 * production starts it. A fresh migrated database; the real relay writes one pending delivery for
 * `customer.reserve-credit` (an order placed through the Order module) and signals the real ECS
 * transport, whose RunTask reaches the local ECS endpoint; that runs the command of
 * deploy/ecs/customer-reserve-credit.json (`node dist/tasks/customer/reserve-credit.task.js`) with
 * the environment the task definition and the launcher's overrides give it. The task logs `first
 * delivery committed` with `sinceSpawnMs` (process.uptime() at its first committed delivery); each
 * run waits until every task it caused (the successor `order.approve-order` too) has stopped and
 * the order is APPROVED. `node -e 0` is measured in the same run, between the task runs, and the
 * medians are reported as a ratio, beside the time from the task's spawn to the successor's
 * RunTask (what the task adds to a saga hop, so that work moved past the first commit shows).
 *
 * Options: --runs=N (default 7, at most 90) measured runs after --warmup=N (default 1) unmeasured ones;
 * --root=DIR the project tree to run (its dist/, deploy/ecs and node_modules; default this one);
 * given twice or more, the trees run in turn, run after run, for an A/B comparison under the same load;
 * --keep keeps the task logs; --cpu-prof runs the tasks with `node --cpu-prof` and keeps their
 * profiles beside the logs. BENCH_DATABASE_URL names the PostgreSQL server (loopback only). The
 * OTEL_* variables of its environment reach the tasks (as a definition rendered with them would
 * give them): `OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 npx tsx bench/task-start.ts`
 * measures the start with tracing on (a collector must listen there).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DescribeTasksCommand, ECSClient, ListTasksCommand } from '@aws-sdk/client-ecs';
import { createMonolith } from '../src/entrypoints/composition/monolith.js';
import { CUSTOMER } from '../src/modules/customer/customer.module.js';
import { ORDER } from '../src/modules/order/order.module.js';
import { loadConfig } from '../src/shared/infrastructure/config/config.js';
import { silentEcsLocalLogger, startLocalEcs, type LocalEcs } from '../src/dev/ecs-local/index.js';
import type { Runtime } from '../src/entrypoints/composition/runtime.js';
import { createLogger } from '../src/shared/infrastructure/logging/logger.js';
import { measureNodeStart } from './lib/baselines.js';
import { BenchDatabases } from './lib/databases.js';
import { median, round, sleep } from './lib/stats.js';

const USE_CASE = 'customer.reserve-credit';
/** The task definition (deploy/ecs/<family>.json) whose command is measured. */
const FAMILY = 'customer-reserve-credit';
const SUCCESSOR_FAMILY = 'order-approve-order';
const CLUSTER = 'bench';
const RUN_TIMEOUT_MS = 60_000;

function option(name: string): string | undefined {
  const prefix = `--${name}=`;
  return process.argv.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

function count(name: string, fallback: number, min: number, max: number): number {
  const value = Number(option(name) ?? fallback);
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`--${name} must be an integer from ${min} to ${max}`);
  return value;
}

// Warm-up and measured runs together stay under 100: one ListTasks/DescribeTasks page finds them all.
const runs = count('runs', 7, 1, 90);
const warmup = count('warmup', 1, 0, 9);
const rootOptions = process.argv.filter((a) => a.startsWith('--root=')).map((a) => resolve(a.slice('--root='.length)));
const roots = rootOptions.length > 0 ? rootOptions : [resolve(dirname(fileURLToPath(import.meta.url)), '..')];
const cpuProf = process.argv.includes('--cpu-prof');
const keep = cpuProf || process.argv.includes('--keep');

function log(message: string): void {
  process.stdout.write(`task-start: ${message}\n`);
}

function loopbackOnly(url: string): string {
  const host = new URL(url).hostname;
  if (!['127.0.0.1', 'localhost', '[::1]', '::1'].includes(host)) throw new Error(`BENCH_DATABASE_URL must be on loopback, not ${host}`);
  return url;
}

/** `sinceSpawnMs` of every `first delivery committed` line of `service`, from the local endpoint's task logs. */
async function firstDeliveries(logDir: string, seen: Set<string>, service: string): Promise<number[]> {
  const found: number[] = [];
  for (const file of (await readdir(logDir)).filter((f) => f.endsWith('.log') && !seen.has(f))) {
    seen.add(file);
    for (const line of (await readFile(join(logDir, file), 'utf8')).split('\n')) {
      // `<time> <container> <stream> <line>`: the task's own output is the fourth field.
      const json = line.split(' ').slice(3).join(' ');
      if (!json.startsWith('{')) continue;
      const entry = JSON.parse(json) as { service?: string; msg?: string; sinceSpawnMs?: number };
      if (entry.service === service && entry.msg === 'first delivery committed' && typeof entry.sinceSpawnMs === 'number')
        found.push(entry.sinceSpawnMs);
    }
  }
  return found;
}

/** The task definitions with `node --cpu-prof` as their command (NODE_OPTIONS may not carry it). */
async function profilingDefinitions(dir: string, logDir: string): Promise<string> {
  const out = join(logDir, 'definitions');
  await mkdir(out);
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.json'))) {
    const def = JSON.parse(await readFile(join(dir, file), 'utf8')) as { containerDefinitions: Array<{ command?: string[] }> };
    for (const c of def.containerDefinitions) {
      if (c.command?.[0] === 'node')
        c.command = ['node', '--cpu-prof', `--cpu-prof-dir=${join(logDir, 'profiles')}`, ...c.command.slice(1)];
    }
    await writeFile(join(out, file), JSON.stringify(def));
  }
  return out;
}

/**
 * From the measured task's spawn to the RunTask of the successor it launched: what the task adds
 * to a saga hop (start, the delivery, relaying, deciding and calling RunTask), whatever of it
 * happens before or after the first commit.
 */
async function hopMs(client: ECSClient, successorFamily: string): Promise<number> {
  const started = async (family: string) => {
    const { taskArns = [] } = await client.send(new ListTasksCommand({ cluster: CLUSTER, family, desiredStatus: 'STOPPED' }));
    const { tasks = [] } = await client.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: taskArns }));
    // The newest task of the family is this run's.
    return tasks
      .map((t) => ({ createdAt: t.createdAt?.getTime() ?? 0, startedAt: t.startedAt?.getTime() ?? 0 }))
      .sort((a, b) => b.createdAt - a.createdAt)[0];
  };
  const measured = await started(FAMILY);
  const successor = await started(successorFamily);
  if (!measured || !successor) throw new Error('tasks missing from ListTasks');
  return successor.createdAt - measured.startedAt;
}

async function settled(ecs: LocalEcs, startedBefore: number): Promise<void> {
  const deadline = Date.now() + RUN_TIMEOUT_MS;
  // The measured task and the successor it launches (order.approve-order): two tasks, both stopped.
  while (ecs.stats().tasksStarted < startedBefore + 2 || ecs.stats().tasksRunning > 0) {
    if (ecs.stats().tasksExitedNonZero > 0) throw new Error(`a task failed: ${JSON.stringify(ecs.stats())}`);
    if (Date.now() > deadline) throw new Error(`tasks still running after ${RUN_TIMEOUT_MS} ms: ${JSON.stringify(ecs.stats())}`);
    await sleep(20);
  }
}

/** One project tree under test: its local ECS endpoint, which runs the tree's deploy/ecs commands. */
interface Subject {
  readonly root: string;
  readonly command: string;
  readonly ecs: LocalEcs;
  readonly api: ECSClient;
  readonly logDir: string;
  readonly seen: Set<string>;
  readonly taskMs: number[];
  readonly hops: number[];
}

async function commandOf(root: string): Promise<string[]> {
  const definition = JSON.parse(await readFile(join(root, 'deploy/ecs', `${FAMILY}.json`), 'utf8')) as {
    containerDefinitions: Array<{ command: string[] }>;
  };
  const command = definition.containerDefinitions[0]!.command;
  const script = command.find((arg) => arg.endsWith('.js')) ?? '';
  if (!existsSync(join(root, script))) throw new Error(`${FAMILY}: ${join(root, script)} is missing: run \`npm run build\``);
  return command;
}

async function startSubject(root: string, databaseUrl: string, workDir: string, index: number): Promise<Subject> {
  const command = await commandOf(root);
  const logDir = join(workDir, `tree-${index}`);
  await mkdir(logDir);
  // The container sees only the task definition's environment, what ECS adds and the overrides:
  // nothing is inherited from this shell but PATH. DATABASE_URL stands for the definition's secret;
  // the OTEL_* variables set here, for the tracing settings `--render` puts in a definition.
  const otel = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => k.startsWith('OTEL_') && v !== undefined)) as Record<
    string,
    string
  >;
  const ecs = await startLocalEcs({
    port: 0,
    taskDefinitionsDir: cpuProf ? await profilingDefinitions(join(root, 'deploy/ecs'), logDir) : join(root, 'deploy/ecs'),
    projectRoot: root,
    inheritEnv: false,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', DATABASE_URL: databaseUrl, ...otel },
    taskLogDir: logDir,
    stopTimeoutMs: 10_000,
    logger: silentEcsLocalLogger,
  });
  return {
    root,
    command: command.join(' '),
    ecs,
    api: new ECSClient({ endpoint: ecs.url }),
    logDir,
    seen: new Set(),
    taskMs: [],
    hops: [],
  };
}

/**
 * The ECS endpoint the bench's relay launches through: it forwards to the endpoint of the tree
 * being measured. (Tasks launch their successors through their own endpoint.)
 */
async function startEndpointSwitch(): Promise<{ url: string; target: (url: string) => void; close: () => Promise<void> }> {
  let target = '';
  const server = createServer((req, res) => {
    const to = new URL(target);
    const forward = request({ host: to.hostname, port: to.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => res.writeHead(502).end());
    req.pipe(forward);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    target: (url) => (target = url),
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** One order through `subject`: its reserve-credit task's sinceSpawnMs and hop, once every task it caused has stopped. */
async function runOnce(runtime: Runtime, subject: Subject, customerId: string): Promise<{ sinceSpawnMs: number; hop: number }> {
  const { ecs } = subject;
  const startedBefore = ecs.stats().tasksStarted;
  const { order } = await runtime
    .module('order')
    .container.get(ORDER.PlaceOrder)
    .execute({ customerId, total: { amount: 100, currency: 'USD' } });
  // The relay writes the pending delivery and signals the ECS transport: RunTask, then the task.
  await runtime.relay.drainAll();
  await settled(ecs, startedBefore);
  const [row] = await runtime.module('order').db.query<{ status: string }>('select status from ordering.orders where id = ?', [order.id]);
  if (row?.status !== 'APPROVED') throw new Error(`order ${order.id} is ${row?.status ?? 'missing'}, not APPROVED: see ${subject.logDir}`);
  const starts = await firstDeliveries(subject.logDir, subject.seen, USE_CASE);
  if (starts.length !== 1) throw new Error(`expected one first delivery of ${USE_CASE}, found ${starts.length}: see ${subject.logDir}`);
  return { sinceSpawnMs: starts[0]!, hop: await hopMs(subject.api, SUCCESSOR_FAMILY) };
}

async function main(): Promise<void> {
  const serverUrl = loopbackOnly(process.env['BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  const runId = `${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}_${randomBytes(3).toString('hex')}`;
  const databases = new BenchDatabases(serverUrl, `start_${runId}`);
  const workDir = await mkdtemp(join(tmpdir(), 'saga-task-start-'));
  const subjects: Subject[] = [];
  const endpoint = await startEndpointSwitch();
  let runtime: Runtime | undefined;
  let cleaned: Promise<void> | undefined;
  const cleanup = () =>
    (cleaned ??= (async () => {
      await runtime?.close().catch(() => undefined);
      await endpoint.close();
      for (const s of subjects) {
        await s.ecs.close().catch(() => undefined);
        s.api.destroy();
      }
      await databases.dropAll();
      if (keep) log(`task logs kept in ${workDir}`);
      else await rm(workDir, { recursive: true, force: true });
    })());
  const interrupted = () => {
    log('interrupted: cleaning up');
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    const databaseUrl = await databases.createTemplate();
    for (const [i, root] of roots.entries()) subjects.push(await startSubject(root, databaseUrl, workDir, i));
    // The relay's ECS client reaches the endpoint through the standard AWS settings, as in production.
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_ECS: endpoint.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    });
    // The definitions are Fargate/awsvpc: the endpoint, like ECS, wants subnets.
    const config = loadConfig({
      DATABASE_URL: databaseUrl,
      EVENT_BUS: 'ecs',
      ECS_CLUSTER: CLUSTER,
      ECS_LAUNCH_TYPE: 'FARGATE',
      ECS_SUBNETS: 'subnet-local',
      SAGA_STYLE: 'choreography',
      LOG_LEVEL: 'warn',
    });
    runtime = await createMonolith({ config, logger: createLogger({ level: 'warn', name: 'task-start-bench' }), databaseUrl });
    const customer = await runtime
      .module('customer')
      .container.get(CUSTOMER.RegisterCustomer)
      .execute({ name: 'bench', creditLimit: { amount: 1_000_000_000, currency: 'USD' } });
    for (const s of subjects) log(`tree ${s.root}: ${s.command}`);
    log(`${warmup} warm-up + ${runs} measured runs${subjects.length > 1 ? ' per tree, interleaved' : ''}`);
    const nodeMs: number[] = [];
    for (let i = 0; i < warmup + runs; i++) {
      const measured = i >= warmup;
      if (measured) for (let k = 0; k < 3; k++) nodeMs.push(measureNodeStart(1));
      // Alternating the order keeps a tree from always running right after the other.
      for (const s of i % 2 === 0 ? subjects : [...subjects].reverse()) {
        endpoint.target(s.ecs.url);
        const { sinceSpawnMs, hop } = await runOnce(runtime, s, customer.id);
        if (measured) {
          s.taskMs.push(sinceSpawnMs);
          s.hops.push(hop);
        }
        log(
          `${measured ? `run ${i - warmup + 1}` : 'warm-up'} ${s.root}: sinceSpawnMs ${sinceSpawnMs}, successor RunTask ${hop} ms after spawn`,
        );
      }
    }
    const node = round(median(nodeMs));
    const results = subjects.map((s) => {
      const stats = s.ecs.stats();
      if (stats.tasksExitedNonZero > 0 || stats.tasksFailedToStart > 0)
        throw new Error(`tasks failed: ${JSON.stringify(stats)}; see ${s.logDir}`);
      const task = median(s.taskMs);
      return {
        root: s.root,
        command: s.command,
        runs,
        taskSinceSpawnMs: { median: task, all: s.taskMs },
        ratioToNodeE0: round(task / node, 2),
        successorRunTaskAfterSpawnMs: { median: median(s.hops), all: s.hops },
      };
    });
    log(`median node -e 0: ${node} ms`);
    for (const r of results) {
      log(
        `${r.root}: median sinceSpawnMs ${r.taskSinceSpawnMs.median} ms = ${r.ratioToNodeE0}x node -e 0; successor RunTask ${r.successorRunTaskAfterSpawnMs.median} ms after spawn`,
      );
    }
    process.stdout.write(`${JSON.stringify({ nodeE0Ms: { median: node, all: nodeMs.map((v) => round(v)) }, results })}\n`);
  } finally {
    await cleanup();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`task-start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
