/**
 * `npm run test:reliability [-- --quick] [-- --only <id,...>] [-- --seed <n>]`
 *
 * The fault suite: starts its OWN PostgreSQL (embedded) and Redis (redis-server on a free port),
 * compiles the system, and runs each scenario of scenarios/index.ts against the dev server as a
 * real child process, injecting faults (SIGKILL, Redis restarts and FLUSHALL, PostgreSQL restarts
 * and crashes, poison messages, fuzzed input) under load, and a burst on hot customers within a
 * connection budget. After every scenario the invariants are
 * asserted (harness/invariants.ts). Exit code 0 when every scenario passed or was skipped.
 *
 * --quick (or RELIABILITY_QUICK=1): a few faults and a few hundred orders, for CI.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildSystem } from './harness/build.js';
import type { Scenario, ScenarioContext, ScenarioResult, SystemHandle } from './harness/scenario.js';
import { SuitePostgres, SuiteRedis } from './harness/services.js';
import { SystemProcess } from './harness/system-process.js';
import { freePort, Random } from './harness/util.js';
import { SCENARIOS } from './scenarios/index.js';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const distDir = join(projectRoot, 'test', 'reliability', 'dist');

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    seed: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
  strict: true,
});
const quick = values.quick || ['1', 'true', 'yes'].includes(process.env['RELIABILITY_QUICK'] ?? '');
const seed =
  values.seed !== undefined ? Number(values.seed) : Number(process.env['RELIABILITY_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
if (!Number.isSafeInteger(seed)) throw new Error(`--seed must be an integer, got ${String(values.seed)}`);
const only = values.only?.split(',').map((s) => s.trim()) ?? [];
const unknownIds = only.filter((id) => !SCENARIOS.some((s) => s.id === id || String(s.number) === id));
if (unknownIds.length > 0) {
  process.stderr.write(`unknown scenario ${unknownIds.join(', ')}; known: ${SCENARIOS.map((s) => `${s.number} ${s.id}`).join(', ')}\n`);
  process.exit(2);
}
const selected = only.length === 0 ? SCENARIOS : SCENARIOS.filter((s) => only.includes(s.id) || only.includes(String(s.number)));
/**
 * The whole run is bounded: a hang is a failure, not a stuck CI job. Quick: about twice the 8.2
 * minutes the quick suite takes here with scenarios 8 (2.6 of them), 9 (1.5) and 10 (2.1), so a
 * loaded machine does not fail it.
 */
const RUN_LIMIT_MS = quick ? 16 * 60_000 : 36 * 60_000;

function log(message: string, data?: Record<string, unknown>): void {
  const time = new Date().toISOString().slice(11, 23);
  process.stdout.write(`[${time}] ${message}${data ? ` ${JSON.stringify(data)}` : ''}\n`);
}

interface Outcome {
  readonly scenario: Scenario;
  readonly status: 'passed' | 'failed' | 'skipped';
  readonly ms: number;
  readonly result?: ScenarioResult;
  readonly reason?: string;
}

const systems: SystemProcess[] = [];
let postgres: SuitePostgres | undefined;
let redis: SuiteRedis | undefined;
let root: string | undefined;

async function cleanup(keep: boolean): Promise<void> {
  await Promise.allSettled(systems.map((s) => s.kill()));
  await Promise.allSettled([postgres?.close(), redis?.close()]);
  if (root && !keep) await rm(root, { recursive: true, force: true });
}

function systemEnv(databaseUrl: string, redisUrl: string, workDir: string, prefix: string): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: process.env['HOME'] ?? workDir,
    NODE_ENV: 'development',
    // The walk-through's defaults: no authentication, and no rate limit (the suite is one client far above a fair share).
    AUTH_MODE: 'off',
    RATE_LIMIT_MAX: '0',
    RATE_LIMIT_SAGA_MAX: '0',
    HTTP_MAX_CONNECTIONS_PER_ADDRESS: '0',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    DATA_DIR: join(workDir, 'data'),
    EVENT_BUS: 'bullmq',
    BULLMQ_PREFIX: prefix,
    SAGA_STYLE: 'choreography',
    SWEEP_INTERVAL_MS: '250',
    RELAY_POLL_MS: '250',
    // Above the worst queueing delay a kill causes (a killed worker's jobs wait out their 10 s lock):
    // shorter, the sweeper re-signals a whole backlog every pass and the system cannot catch up (RELIABILITY.md).
    REDELIVERY_AFTER_MS: '10000',
    // Far longer than any fault: an order that ends by TIMEOUT in a fault scenario is a stalled saga.
    ORDER_DEADLINE_MS: '120000',
    DELIVERY_MAX_ATTEMPTS: '8',
    RETRY_BASE_MS: '100',
    RETRY_MAX_MS: '2000',
    WORKER_CONCURRENCY: '8',
    DB_POOL_SIZE: '10',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

async function runScenario(scenario: Scenario, random: Random): Promise<Outcome> {
  const started = Date.now();
  const skip = await scenario.skipReason?.({ projectRoot, quick });
  if (skip) {
    log(`SKIP scenario ${scenario.number} (${scenario.id}): ${skip}`);
    return { scenario, status: 'skipped', ms: 0, reason: skip };
  }
  const workDir = join(root!, `${scenario.number}-${scenario.id}`);
  await mkdir(workDir, { recursive: true });
  const mine: SystemProcess[] = [];
  let databases = 0;
  const context: ScenarioContext = {
    quick,
    seed,
    random,
    postgres: postgres!,
    redis: redis!,
    projectRoot,
    distDir,
    workDir,
    log: (message, data) => log(`  [${scenario.id}] ${message}`, data),
    async createSystem(env = {}): Promise<SystemHandle> {
      databases++;
      const databaseUrl = await postgres!.createDatabase(`reliability_${scenario.number}_${databases}`);
      const fullEnv = { ...systemEnv(databaseUrl, redis!.url, workDir, `rel${scenario.number}-${databases}`), ...env };
      const system = new SystemProcess({
        entry: join(distDir, 'dev', 'dev-server.js'),
        cwd: projectRoot,
        env: fullEnv,
        port: await freePort(),
        logFile: join(workDir, `system-${databases}.log`),
      });
      systems.push(system);
      mine.push(system);
      return { system, databaseUrl, env: fullEnv };
    },
    async createProcess(options): Promise<SystemProcess> {
      const child = new SystemProcess({
        entry: options.entry,
        cwd: options.cwd ?? projectRoot,
        env: options.env,
        port: options.port ?? (await freePort()),
        logFile: join(workDir, `${options.name}.log`),
        readyPath: options.readyPath,
      });
      systems.push(child);
      mine.push(child);
      return child;
    },
  };
  log(`RUN  scenario ${scenario.number} (${scenario.id}): ${scenario.title}`);
  try {
    const result = await scenario.run(context);
    log(`PASS scenario ${scenario.number} (${scenario.id}) in ${Date.now() - started} ms`, {
      lost: result.lost,
      recoveryMs: result.recoveryMs,
    });
    return { scenario, status: 'passed', ms: Date.now() - started, result };
  } catch (error) {
    const reason =
      error instanceof Error ? `${error.message}${error.name === 'AssertionFailure' ? '' : `\n${error.stack ?? ''}`}` : String(error);
    log(`FAIL scenario ${scenario.number} (${scenario.id}) after ${Date.now() - started} ms:\n${reason}`);
    for (const system of mine) log(`  log of the system under test (${system.baseUrl}), last lines:\n${system.logTail(15)}`);
    return { scenario, status: 'failed', ms: Date.now() - started, reason };
  } finally {
    await Promise.allSettled(mine.map((s) => s.stop(10_000)));
    // Our own Redis: nothing of one scenario may reach the next.
    await redis!.restart().catch(() => undefined);
    await redis!.flushAll().catch(() => undefined);
  }
}

async function main(): Promise<number> {
  const runStarted = Date.now();
  log(`reliability suite: ${quick ? 'quick' : 'full'} run, seed ${seed} (replay with --seed ${seed})`);
  const buildMs = await buildSystem(projectRoot, distDir);
  log('system compiled', { ms: buildMs, outDir: distDir });
  root = await mkdtemp(join(tmpdir(), 'saga-reliability-'));
  [postgres, redis] = await Promise.all([SuitePostgres.start(root), SuiteRedis.start(root)]);
  log('own PostgreSQL and Redis started', { postgresPort: postgres.port, redisPort: redis.port, dir: root });

  const outcomes: Outcome[] = [];
  // Each scenario's randomness depends on the seed and its number only, so `--only <n> --seed <s>` replays it.
  for (const scenario of selected) outcomes.push(await runScenario(scenario, new Random((seed + scenario.number * 0x9e3779b1) >>> 0)));

  const failed = outcomes.filter((o) => o.status === 'failed');
  const totalMs = Date.now() - runStarted;
  log('');
  log(`summary (${quick ? 'quick' : 'full'} run, seed ${seed}, ${Math.round(totalMs / 1000)} s):`);
  for (const o of outcomes) {
    const detail = o.result
      ? `lost ${o.result.lost}, recovered in ${o.result.recoveryMs} ms — ${o.result.faults}`
      : (o.reason?.split('\n')[0] ?? '');
    log(`  ${o.status.toUpperCase().padEnd(7)} ${o.scenario.number}. ${o.scenario.title} (${Math.round(o.ms / 1000)} s): ${detail}`);
  }
  const resultsFile = join(distDir, `reliability-${quick ? 'quick' : 'full'}.json`);
  await writeFile(
    resultsFile,
    `${JSON.stringify(
      {
        mode: quick ? 'quick' : 'full',
        seed,
        startedAt: new Date(runStarted).toISOString(),
        totalMs,
        buildMs,
        scenarios: outcomes.map((o) => ({
          number: o.scenario.number,
          id: o.scenario.id,
          title: o.scenario.title,
          status: o.status,
          ms: o.ms,
          reason: o.reason,
          ...(o.result
            ? {
                load: o.result.load,
                faults: o.result.faults,
                lost: o.result.lost,
                recoveryMs: o.result.recoveryMs,
                settleMs: o.result.invariants.settleMs,
                figures: o.result.figures,
                consistency: o.result.invariants.report.summary,
              }
            : {}),
        })),
      },
      null,
      2,
    )}\n`,
  );
  log(`figures written to ${resultsFile}`);
  const keep = values.keep || failed.length > 0;
  await cleanup(keep);
  if (keep && root) log(`logs and data kept in ${root}`);
  return failed.length === 0 ? 0 : 1;
}

const limit = setTimeout(() => {
  log(`the run exceeded its limit of ${RUN_LIMIT_MS / 60_000} minutes; stopping`);
  void cleanup(true).finally(() => process.exit(1));
}, RUN_LIMIT_MS);
limit.unref();

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping the system, PostgreSQL and Redis`);
    void cleanup(false).finally(() => process.exit(130));
  });
}

main().then(
  (code) => {
    clearTimeout(limit);
    process.exit(code);
  },
  (error: unknown) => {
    log(`the suite could not run: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    void cleanup(true).finally(() => process.exit(1));
  },
);
