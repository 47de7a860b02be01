/**
 * The cost model of docs/cost.md: the monthly Fargate (and Redis) bill of the saga system's
 * consumers at a given load, for (a) a task per use case launched by RunTask, (b) always-on
 * BullMQ workers, (c) the hybrid (busy use cases on an always-on task, the rest on RunTask).
 * Pure and deterministic: the same inputs and seed give the same figures on every machine.
 * The API process is the same in all three and is left out, like PostgreSQL.
 */
import { loadConfig } from '../../src/shared/infrastructure/config/config.js';
import { profileFaults } from '../../src/dev/ecs-local/faults.js';
import { taskFamilyOf } from '../../src/shared/infrastructure/messaging/ecs/task-family.js';
import { percentile } from '../lib/stats.js';
import {
  BILL_PARAMETER_REASONS,
  BILL_PRICES,
  computeRates,
  DEFAULT_BILL_PARAMETERS,
  fixedEgressUsd,
  otherLines,
  pullUsdPerGb,
  type Architecture,
  type BillParameters,
  type BillPrices,
  type MonthActivity,
  type OtherLines,
} from './bill.js';
import type { FargateLadderPoint, MeasuredInputs, Style } from './measured.js';
import {
  delayFlow,
  independentFlow,
  mergeFlows,
  simulateUseCase,
  stream,
  thinFlow,
  type ArrivalProcess,
  type Flow,
  type TaskBehaviour,
  type UseCaseRun,
} from './simulation.js';

export interface Prices extends BillPrices {
  readonly region: string;
  readonly platform: string;
  readonly vcpuHourUsd: number;
  readonly gbHourUsd: number;
  /** Per-second billing with this minimum per task. */
  readonly minimumBilledSec: number;
  readonly source: string;
  readonly checked: string;
  readonly redisNodeType: string;
  readonly redisNodeHourUsd: number;
  readonly redisSource: string;
  /** AWS's month for monthly figures. */
  readonly hoursPerMonth: number;
}

export const DEFAULT_PRICES: Prices = {
  region: 'us-east-1 (N. Virginia)',
  platform: 'Fargate Linux/x86_64, on demand',
  vcpuHourUsd: 0.04048,
  gbHourUsd: 0.004445,
  minimumBilledSec: 60,
  source: 'as published on the AWS Fargate pricing page (https://aws.amazon.com/fargate/pricing/), checked 2026-12',
  checked: '2026-12',
  redisNodeType: 'cache.t4g.micro',
  redisNodeHourUsd: 0.016,
  redisSource: 'ElastiCache on-demand node price (https://aws.amazon.com/elasticache/pricing/), us-east-1, checked 2026-12',
  hoursPerMonth: 730,
  ...BILL_PRICES,
};

export interface TaskSize {
  readonly cpuUnits: number;
  readonly memoryMiB: number;
}

/** A task's hourly price: on-demand x86_64 unless an architecture or Fargate Spot is given. */
export function taskHourUsd(size: TaskSize, prices: Prices, architecture: Architecture = 'x86_64', spot = false): number {
  const rate = computeRates(prices, prices, architecture, spot);
  return (size.cpuUnits / 1024) * rate.vcpuHourUsd + (size.memoryMiB / 1024) * rate.gbHourUsd;
}

/** Every assumption of the model, by name; `PARAMETER_REASONS` says why each default is what it is. */
export interface ModelParameters extends BillParameters {
  readonly idleGraceSec: number;
  readonly maxRuntimeSec: number;
  readonly startDelaySec: { readonly min: number; readonly max: number };
  readonly processStartSec: number;
  readonly billedStartShare: number;
  readonly stopOverheadSec: number;
  readonly hopDelaySec: number;
  readonly scaleOutBacklog: number;
  readonly maxTasksPerUseCase: number;
  readonly cpuMsPerSaga: number;
  readonly taskUtilisation: number;
  readonly arrivals: ArrivalProcess;
  readonly sweeperRunsPerHour: number;
  readonly sweeperRunSec: number;
  readonly minWorkers: number;
  readonly workerTargetUtilisation: number;
  readonly redisNodes: number;
  readonly seed: number;
  readonly minSimulatedHours: number;
  readonly targetDeliveries: number;
  readonly maxSimulatedHours: number;
}

export const PARAMETER_REASONS: Readonly<Record<keyof ModelParameters, string>> = {
  idleGraceSec: 'TASK_IDLE_GRACE_MS, its default with EVENT_BUS=ecs (config.ts): a task waits this long for more work before it exits',
  maxRuntimeSec: 'TASK_MAX_RUNTIME_MS default (config.ts): a task exits this long after it started; the next delivery launches another',
  startDelaySec:
    'RunTask to the container start, uniform: the measured ladder’s startDelayMs (the local endpoint’s fargate profile, 15–45 s, when no measurement says otherwise)',
  processStartSec: 'container start to its first delivery: the bench’s ecs.taskStartMs (bundled task entrypoints, ADR 15)',
  billedStartShare:
    'share of the start delay Fargate bills; it bills from the image pull on, most of a cold start, so all of it is counted (the bench’s taskSeconds count it too)',
  stopOverheadSec: 'exit to the end of billing: closing the pools and the container stopping',
  hopDelaySec:
    'a commit to the next use case’s claim (relay, NOTIFY, claim): docs/ecs.md measures a saga from POST to decision at 65–89 ms on running tasks, two such hops',
  scaleOutBacklog: 'ECS_SCALE_OUT_BACKLOG default (config.ts): one more task per this many pending deliveries',
  maxTasksPerUseCase: 'ECS_MAX_TASKS_PER_USE_CASE default (config.ts)',
  cpuMsPerSaga:
    'CPU per saga of the always-on process at saturation (saga.bullmq.<style>.saturation.cpuMsPerSaga.system); it includes the API’s share, so it overstates a consumer’s: cautious for every option',
  taskUtilisation:
    'a task takes deliveries up to its whole vCPU: the launcher adds a task only when the backlog passes ECS_SCALE_OUT_BACKLOG, not on CPU',
  arrivals: 'orders arrive independently of each other (Poisson), as in the bench’s Fargate ladder',
  sweeperRunsPerHour: 'the saga-sweeper task is scheduled every minute (docs/ecs.md, The sweeper)',
  sweeperRunSec:
    'the sweeper’s container start and one pass, after its start delay; any run under the minimum is billed the minimum anyway',
  minWorkers: 'always-on workers: two, in two availability zones, so that losing one zone does not stop the sagas',
  workerTargetUtilisation:
    'always-on workers are added when the CPU per saga at that rate would keep them above this share of their vCPU (headroom for bursts)',
  redisNodes: 'BullMQ needs Redis: one node of the smallest type; a replica in a second zone doubles this line',
  seed: 'seed of every random draw (arrivals, start delays, which idle task wins a delivery)',
  minSimulatedHours: 'at least this many hours are simulated, so that the maximum runtime’s cycles are many',
  targetDeliveries: 'and long enough for the rarest use case to see this many deliveries, so the figures are stable to about a percent',
  maxSimulatedHours: 'upper bound of the simulated time for very rare use cases',
  ...BILL_PARAMETER_REASONS,
};

/** What config.ts gives a process with EVENT_BUS=ecs when nothing is set. */
const ECS_DEFAULTS = loadConfig({ EVENT_BUS: 'ecs' });
const FARGATE_PROFILE_START = profileFaults('fargate').taskStartDelayMs;

/** The model's parameters: the defaults of the code and the measured figures, then any override. */
export function parametersFrom(measured: MeasuredInputs, overrides: Partial<ModelParameters> = {}): ModelParameters {
  const start = measured.fargate.startDelayMs;
  return {
    idleGraceSec: ECS_DEFAULTS.TASK_IDLE_GRACE_MS / 1000,
    maxRuntimeSec: ECS_DEFAULTS.TASK_MAX_RUNTIME_MS / 1000,
    startDelaySec:
      start.max > 0
        ? { min: start.min / 1000, max: start.max / 1000 }
        : { min: FARGATE_PROFILE_START.min / 1000, max: FARGATE_PROFILE_START.max / 1000 },
    processStartSec: (measured.taskStartMs ?? 1000) / 1000,
    billedStartShare: 1,
    stopOverheadSec: 1,
    hopDelaySec: 0.035,
    scaleOutBacklog: ECS_DEFAULTS.ECS_SCALE_OUT_BACKLOG,
    maxTasksPerUseCase: ECS_DEFAULTS.ECS_MAX_TASKS_PER_USE_CASE,
    cpuMsPerSaga: measured.cpuMsPerSaga,
    taskUtilisation: 1,
    arrivals: 'poisson',
    sweeperRunsPerHour: 60,
    sweeperRunSec: 3,
    minWorkers: 2,
    workerTargetUtilisation: 0.6,
    redisNodes: 1,
    seed: 1,
    minSimulatedHours: 4,
    targetDeliveries: 20_000,
    maxSimulatedHours: 20_000,
    ...DEFAULT_BILL_PARAMETERS,
    ...overrides,
  };
}

export interface CostModelInputs {
  readonly style: Style;
  readonly prices: Prices;
  readonly parameters: ModelParameters;
  /** Deliveries per saga, per use case (the measured mix, or one given on the command line). */
  readonly mixPerSaga: Readonly<Record<string, number>>;
  /** Task sizes by task definition family (deploy/ecs/*.json), `saga-sweeper` included. */
  readonly taskSizes: Readonly<Record<string, TaskSize>>;
  /** The size of a family not listed, and of an always-on worker. */
  readonly defaultTaskSize: TaskSize;
}

/**
 * Which use case's processing emits another's message (the routes of the modules' contracts,
 * src/modules/<m>/contract/<m>.inbox.ts). A downstream use case's deliveries arrive when its
 * upstream's task processes them: after a cold start they come as a burst. Not listed: the API
 * (an order, a cancellation) sends them.
 */
export const UPSTREAM: Readonly<Record<Style, Readonly<Record<string, string>>>> = {
  choreography: {
    'order.approve-order': 'customer.reserve-credit',
    'order.reject-order': 'customer.reserve-credit',
    'customer.release-credit': 'order.reject-order',
    'order.record-credit-release': 'customer.release-credit',
  },
  orchestration: {
    'order.place-order-saga': 'customer.reserve-credit',
  },
};

/** The use cases whose processing decides a saga (APPROVED or REJECTED): their completions give its latency. */
const DECIDING = new Set(['order.approve-order', 'order.reject-order', 'order.place-order-saga']);

export type Option = 'a' | 'b' | 'c';
export const OPTION_NAMES: Readonly<Record<Option, string>> = {
  a: '(a) a task per use case (RunTask)',
  b: '(b) always-on workers (BullMQ)',
  c: '(c) hybrid',
};

export interface UseCaseCost {
  readonly useCase: string;
  readonly deliveriesPerHour: number;
  /** On RunTask, its upstream on RunTask too (option a). */
  readonly runTask: {
    readonly monthlyUsd: number;
    readonly tasksPerHour: number;
    readonly billedSecPerTask: number;
    readonly waitedForStartShare: number;
  };
  /**
   * In the hybrid: the cheaper of RunTask and an always-on task, given the hybrid's choice upstream;
   * each mode's figure includes what moving the image to its task starts costs (the egress's per-GB price).
   */
  readonly hybrid: {
    readonly choice: 'runtask' | 'always-on';
    readonly monthlyUsd: number;
    readonly runTaskUsd: number;
    readonly alwaysOnUsd: number;
    readonly burstTasksPerHour: number;
    /** The chosen mode's Fargate compute alone (its pulls are in the option's other lines). */
    readonly computeUsd: number;
  };
}

export interface OptionCost {
  readonly monthlyUsd: number;
  /** Fargate tasks (and, for (b), Redis). */
  readonly computeUsd: number;
  /** Image pulls, logs, Container Insights. */
  readonly other: OtherLines;
  readonly activity: MonthActivity;
}

export interface CostEstimate {
  readonly ordersPerHour: number;
  readonly simulatedHours: number;
  readonly byUseCase: readonly UseCaseCost[];
  readonly sweeper: { readonly monthlyUsd: number; readonly billedSecPerRun: number; readonly runsPerMonth: number };
  /** Each option's total: Fargate (and Redis) compute plus the other lines of its bill. */
  readonly a: OptionCost;
  readonly b: OptionCost & {
    readonly workers: number;
    readonly workerUsd: number;
    readonly redisUsd: number;
    readonly cpuShareOfOneWorker: number;
  };
  readonly c: OptionCost;
  /** NAT gateway or interface endpoint hours: the same whichever option runs the use cases. */
  readonly fixedEgress: { readonly monthlyUsd: number; readonly what: string };
  readonly cheapest: Option;
}

function deliveriesPerSaga(mix: Readonly<Record<string, number>>): number {
  return Object.values(mix).reduce((s, v) => s + v, 0);
}

function sizeOf(inputs: CostModelInputs, family: string): TaskSize {
  return inputs.taskSizes[family] ?? inputs.defaultTaskSize;
}

/** A use case's task behaviour; `timeScale` stretches what runs on the bench machine in real time (start, hops, processing). */
function behaviourOf(inputs: CostModelInputs, useCase: string, timeScale = 1): TaskBehaviour {
  const p = inputs.parameters;
  const vcpu = sizeOf(inputs, taskFamilyOf(useCase)).cpuUnits / 1024;
  const cpuSecPerDelivery = p.cpuMsPerSaga / 1000 / Math.max(1e-9, deliveriesPerSaga(inputs.mixPerSaga));
  return {
    idleGraceSec: p.idleGraceSec,
    maxRuntimeSec: p.maxRuntimeSec,
    startDelaySec: p.startDelaySec,
    processStartSec: p.processStartSec * timeScale,
    stopOverheadSec: p.stopOverheadSec,
    billedStartShare: p.billedStartShare,
    scaleOutBacklog: p.scaleOutBacklog,
    maxTasksPerUseCase: p.maxTasksPerUseCase,
    serviceSec: (cpuSecPerDelivery / (vcpu * p.taskUtilisation)) * timeScale,
    minimumBilledSec: inputs.prices.minimumBilledSec,
  };
}

/** Use cases with deliveries, each after its upstream. */
function chainOrder(style: Style, mix: Readonly<Record<string, number>>): string[] {
  const active = Object.keys(mix)
    .filter((u) => (mix[u] ?? 0) > 0)
    .sort();
  const placed: string[] = [];
  while (placed.length < active.length) {
    const ready = active.filter(
      (u) => !placed.includes(u) && !(UPSTREAM[style][u] && active.includes(UPSTREAM[style][u]!) && !placed.includes(UPSTREAM[style][u]!)),
    );
    placed.push(...(ready.length > 0 ? ready : active.filter((u) => !placed.includes(u))));
  }
  return placed;
}

interface ChainRun {
  readonly mode: 'runtask' | 'always-on';
  readonly run: UseCaseRun;
}

interface Scenario {
  readonly ordersPerHour: number;
  readonly horizonSec: number;
  readonly arrivals: ArrivalProcess;
  readonly seed: number;
  readonly hopDelaySec: number;
}

/** The deliveries of one use case: what its upstream's tasks did, thinned to its share, plus any share the API sends itself. */
function flowOf(useCase: string, inputs: CostModelInputs, s: Scenario, runs: ReadonlyMap<string, ChainRun>): Flow {
  const mix = inputs.mixPerSaga;
  const perSec = s.ordersPerHour / 3600;
  const upstream = UPSTREAM[inputs.style][useCase];
  const upstreamRun = upstream ? runs.get(upstream) : undefined;
  if (!upstream || !upstreamRun)
    return delayFlow(
      independentFlow(perSec * (mix[useCase] ?? 0), s.horizonSec, s.arrivals, stream(s.seed, `arrivals:${useCase}`)),
      s.hopDelaySec,
    );
  const own = mix[useCase] ?? 0;
  const from = mix[upstream] ?? 0;
  const carried = thinFlow(upstreamRun.run.done, Math.min(1, own / from), s.hopDelaySec, stream(s.seed, `share:${useCase}`));
  const extra = Math.max(0, own - from) * perSec;
  return extra > 0 ? mergeFlows(carried, independentFlow(extra, s.horizonSec, s.arrivals, stream(s.seed, `extra:${useCase}`))) : carried;
}

/** Runs the use cases in chain order; `choose` decides each one's mode from its simulated alternatives. */
function runChain(
  inputs: CostModelInputs,
  s: Scenario,
  timeScale: number,
  choose: (useCase: string, simulate: (mode: ChainRun['mode']) => UseCaseRun) => ChainRun,
): Map<string, ChainRun> {
  const runs = new Map<string, ChainRun>();
  for (const useCase of chainOrder(inputs.style, inputs.mixPerSaga)) {
    const flow = flowOf(useCase, inputs, s, runs);
    const behaviour = behaviourOf(inputs, useCase, timeScale);
    const simulate = (mode: ChainRun['mode']) =>
      simulateUseCase(flow, behaviour, stream(s.seed, `cold-starts:${useCase}`), stream(s.seed, `picks:${useCase}`), mode === 'always-on');
    runs.set(useCase, choose(useCase, simulate));
  }
  return runs;
}

export function simulatedHoursFor(ordersPerHour: number, inputs: CostModelInputs): number {
  const p = inputs.parameters;
  const rates = Object.values(inputs.mixPerSaga)
    .filter((v) => v > 0)
    .map((v) => v * ordersPerHour);
  const slowest = rates.length > 0 ? Math.min(...rates) : ordersPerHour;
  return Math.min(p.maxSimulatedHours, Math.max(p.minSimulatedHours, p.targetDeliveries / slowest));
}

/** The scheduled sweeper: every run billed max(minimum, its start delay and pass), averaged over the uniform start delay; on demand. */
export function sweeperCost(inputs: CostModelInputs): { monthlyUsd: number; billedSecPerRun: number; runsPerMonth: number } {
  const p = inputs.parameters;
  const steps = 1000;
  let billed = 0;
  for (let i = 0; i < steps; i++) {
    const delay = p.startDelaySec.min + ((p.startDelaySec.max - p.startDelaySec.min) * (i + 0.5)) / steps;
    billed += Math.max(inputs.prices.minimumBilledSec, Math.ceil(delay * p.billedStartShare + p.sweeperRunSec + p.stopOverheadSec));
  }
  const billedSecPerRun = billed / steps;
  const perSec = taskHourUsd(sizeOf(inputs, 'saga-sweeper'), inputs.prices, p.architecture) / 3600;
  const runsPerMonth = p.sweeperRunsPerHour * inputs.prices.hoursPerMonth;
  return { monthlyUsd: runsPerMonth * billedSecPerRun * perSec, billedSecPerRun, runsPerMonth };
}

/** (b): always-on workers, at least `minWorkers`, more when the CPU per saga at this rate needs them at the target utilisation; plus Redis. */
export function alwaysOnCost(
  ordersPerHour: number,
  inputs: CostModelInputs,
): Omit<CostEstimate['b'], 'other' | 'monthlyUsd' | 'activity'> & {
  computeUsd: number;
} {
  const p = inputs.parameters;
  const size = inputs.defaultTaskSize;
  const vcpuNeeded = ((ordersPerHour / 3600) * p.cpuMsPerSaga) / 1000;
  const workers = Math.max(p.minWorkers, Math.ceil(vcpuNeeded / ((size.cpuUnits / 1024) * p.workerTargetUtilisation) - 1e-9));
  const workerUsd = workers * taskHourUsd(size, inputs.prices, p.architecture) * inputs.prices.hoursPerMonth;
  const redisUsd = p.redisNodes * inputs.prices.redisNodeHourUsd * inputs.prices.hoursPerMonth;
  return { computeUsd: workerUsd + redisUsd, workers, workerUsd, redisUsd, cpuShareOfOneWorker: vcpuNeeded / (size.cpuUnits / 1024) };
}

/**
 * The use cases that undo another's effect: the CDK app keeps them on demand when the others go to
 * Fargate Spot (an interruption may delay them, and they release what a customer's order holds).
 */
export const COMPENSATIONS: ReadonlySet<string> = new Set(['customer.release-credit', 'order.record-credit-release']);

/** The monthly cost of the three options at `ordersPerHour`. */
export function estimate(ordersPerHour: number, inputs: CostModelInputs): CostEstimate {
  const p = inputs.parameters;
  const month = inputs.prices.hoursPerMonth;
  const hours = simulatedHoursFor(ordersPerHour, inputs);
  const scale = month / hours;
  const scenario: Scenario = { ordersPerHour, horizonSec: hours * 3600, arrivals: p.arrivals, seed: p.seed, hopDelaySec: p.hopDelaySec };
  const hourUsd = (useCase: string, onRunTask: boolean) =>
    taskHourUsd(sizeOf(inputs, taskFamilyOf(useCase)), inputs.prices, p.architecture, onRunTask && p.spot && !COMPENSATIONS.has(useCase));
  const monthly = (useCase: string, billedSec: number) => ((billedSec * hourUsd(useCase, true)) / 3600) * scale;
  const alwaysOnBase = (useCase: string) => hourUsd(useCase, false) * month;
  const pullsUsd = (starts: number) => ((starts * p.imageCompressedMb) / 1024) * pullUsdPerGb(p.egress, inputs.prices);

  const a = runChain(inputs, scenario, 1, (_u, simulate) => ({ mode: 'runtask', run: simulate('runtask') }));
  const hybridRuns = new Map<
    string,
    {
      runTask: UseCaseRun;
      alwaysOn: UseCaseRun;
      runTaskUsd: number;
      alwaysOnUsd: number;
      computeUsd: Record<ChainRun['mode'], number>;
    }
  >();
  const c = runChain(inputs, scenario, 1, (useCase, simulate) => {
    const onRunTask = simulate('runtask');
    const alwaysOn = simulate('always-on');
    // Each mode with the image pulls of its task starts: what the egress charges for them differs by mode.
    const runTaskUsd = monthly(useCase, onRunTask.billedSeconds) + pullsUsd(onRunTask.tasksLaunched * scale);
    // An always-on use case is also an ECS service, whose Container Insights metrics the RunTask mode does not have.
    const serviceInsightsUsd = p.containerInsights ? p.insightsMetricsPerFamily * inputs.prices.metricMonthUsd : 0;
    const alwaysOnUsd =
      alwaysOnBase(useCase) +
      monthly(useCase, alwaysOn.billedSeconds) +
      pullsUsd(alwaysOn.tasksLaunched * scale + p.deploysPerMonth) +
      serviceInsightsUsd;
    hybridRuns.set(useCase, {
      runTask: onRunTask,
      alwaysOn,
      runTaskUsd,
      alwaysOnUsd,
      computeUsd: {
        runtask: monthly(useCase, onRunTask.billedSeconds),
        'always-on': alwaysOnBase(useCase) + monthly(useCase, alwaysOn.billedSeconds),
      },
    });
    return alwaysOnUsd < runTaskUsd ? { mode: 'always-on', run: alwaysOn } : { mode: 'runtask', run: onRunTask };
  });

  const byUseCase: UseCaseCost[] = [...a.entries()].map(([useCase, { run }]) => {
    const h = hybridRuns.get(useCase)!;
    const choice = c.get(useCase)!.mode;
    return {
      useCase,
      deliveriesPerHour: run.deliveries / hours,
      runTask: {
        monthlyUsd: monthly(useCase, run.billedSeconds),
        tasksPerHour: run.tasksLaunched / hours,
        billedSecPerTask: run.tasksLaunched > 0 ? run.billedSeconds / run.tasksLaunched : 0,
        waitedForStartShare: run.deliveries > 0 ? run.waitedForStart / run.deliveries : 0,
      },
      hybrid: {
        choice,
        monthlyUsd: choice === 'always-on' ? h.alwaysOnUsd : h.runTaskUsd,
        runTaskUsd: h.runTaskUsd,
        alwaysOnUsd: h.alwaysOnUsd,
        burstTasksPerHour: h.alwaysOn.tasksLaunched / hours,
        computeUsd: h.computeUsd[choice],
      },
    };
  });
  const sweeper = sweeperCost(inputs);
  const deliveries = byUseCase.reduce((s, u) => s + u.deliveriesPerHour * month, 0);
  const sweeperActivity = { taskStarts: sweeper.runsPerMonth, taskMinutes: (sweeper.runsPerMonth * sweeper.billedSecPerRun) / 60 };
  const runtimeImageStarts = sweeper.runsPerMonth;

  const aActivity: MonthActivity = {
    taskStarts: [...a.values()].reduce((s, { run }) => s + run.tasksLaunched * scale, sweeperActivity.taskStarts),
    taskMinutes: [...a.values()].reduce((s, { run }) => s + (run.taskSeconds / 60) * scale, sweeperActivity.taskMinutes),
    runtimeImageStarts,
    deliveries,
    families: a.size + 1,
  };
  let cStarts = sweeperActivity.taskStarts;
  let cMinutes = sweeperActivity.taskMinutes;
  for (const [useCase, { mode }] of c) {
    const h = hybridRuns.get(useCase)!;
    const run = mode === 'always-on' ? h.alwaysOn : h.runTask;
    cStarts += run.tasksLaunched * scale + (mode === 'always-on' ? p.deploysPerMonth : 0);
    cMinutes += (run.taskSeconds / 60) * scale + (mode === 'always-on' ? month * 60 : 0);
  }
  // An always-on use case is an ECS service too: its metrics come per service as well as per family.
  const services = [...c.values()].filter(({ mode }) => mode === 'always-on').length;
  const cActivity: MonthActivity = {
    taskStarts: cStarts,
    runtimeImageStarts,
    taskMinutes: cMinutes,
    deliveries,
    families: c.size + 1 + services,
  };
  const bCompute = alwaysOnCost(ordersPerHour, inputs);
  const bActivity: MonthActivity = {
    taskStarts: bCompute.workers * p.deploysPerMonth,
    runtimeImageStarts: bCompute.workers * p.deploysPerMonth,
    taskMinutes: bCompute.workers * month * 60,
    deliveries,
    // The workers' family and their ECS service.
    families: 2,
  };

  const other = {
    a: otherLines(aActivity, p, inputs.prices),
    b: otherLines(bActivity, p, inputs.prices),
    c: otherLines(cActivity, p, inputs.prices),
  };
  const aCompute = byUseCase.reduce((s, u) => s + u.runTask.monthlyUsd, 0) + sweeper.monthlyUsd;
  const cCompute = byUseCase.reduce((s, u) => s + u.hybrid.computeUsd, 0) + sweeper.monthlyUsd;
  const totals: Record<Option, number> = {
    a: aCompute + other.a.totalUsd,
    b: bCompute.computeUsd + other.b.totalUsd,
    c: cCompute + other.c.totalUsd,
  };
  const cheapest = (['a', 'b', 'c'] as const).reduce((best, o) => (totals[o] < totals[best] - 1e-9 ? o : best), 'a' as Option);
  return {
    ordersPerHour,
    simulatedHours: hours,
    byUseCase,
    sweeper,
    a: { monthlyUsd: totals.a, computeUsd: aCompute, other: other.a, activity: aActivity },
    b: { ...bCompute, monthlyUsd: totals.b, other: other.b, activity: bActivity },
    c: { monthlyUsd: totals.c, computeUsd: cCompute, other: other.c, activity: cActivity },
    fixedEgress: fixedEgressUsd(p, inputs.prices, month),
    cheapest,
  };
}

export function totalOf(e: CostEstimate, option: Option): number {
  return e[option].monthlyUsd;
}

/** `perDecade` rates per decade from `from` to `to`, evenly spaced on a log scale. */
export function logGrid(from: number, to: number, perDecade: number): number[] {
  const steps = Math.round(Math.log10(to / from) * perDecade);
  return Array.from({ length: steps + 1 }, (_, i) => from * 10 ** (i / perDecade));
}

export interface BreakEven {
  /** `cheaperBelow` costs less below `ordersPerHour`, `cheaperAbove` above it. */
  readonly cheaperBelow: string;
  readonly cheaperAbove: string;
  readonly ordersPerHour: number;
  /** What both cost there, a month: the options' totals, or the use case's line for a hybrid switch. */
  readonly monthlyUsd: number;
  /** Whether it compares two options' totals (drawn on the chart) or one use case's two modes in the hybrid. */
  readonly kind: 'options' | 'hybrid-switch';
}

interface Crossing {
  readonly below: string;
  readonly above: string;
  readonly kind: BreakEven['kind'];
  /** Cost of `below` minus cost of `above`. */
  readonly diff: (e: CostEstimate) => number;
  readonly value: (e: CostEstimate) => number;
}

function crossings(useCases: readonly string[]): Crossing[] {
  const list: Crossing[] = [];
  for (const [x, y] of [
    ['a', 'b'],
    ['c', 'b'],
    ['a', 'c'],
  ] as const) {
    for (const [lo, hi] of [
      [x, y],
      [y, x],
    ] as const) {
      list.push({
        below: OPTION_NAMES[lo],
        above: OPTION_NAMES[hi],
        kind: 'options',
        diff: (e) => e[lo].monthlyUsd - e[hi].monthlyUsd,
        value: (e) => e[lo].monthlyUsd,
      });
    }
  }
  for (const useCase of useCases) {
    const of = (e: CostEstimate) => e.byUseCase.find((u) => u.useCase === useCase)!.hybrid;
    const modes = { runtask: (e: CostEstimate) => of(e).runTaskUsd, 'always-on': (e: CostEstimate) => of(e).alwaysOnUsd };
    for (const [lo, hi] of [
      ['runtask', 'always-on'],
      ['always-on', 'runtask'],
    ] as const) {
      const name = (m: string) => `${useCase} ${m === 'runtask' ? 'on RunTask' : 'always-on'}`;
      list.push({
        below: name(lo),
        above: name(hi),
        kind: 'hybrid-switch',
        diff: (e) => modes[lo](e) - modes[hi](e),
        value: (e) => modes[lo](e),
      });
    }
  }
  return list;
}

/** Where `diff` goes from negative at `lo` to positive at `hi`, by bisection on the log scale. */
function refine(lo: number, hi: number, diff: (e: CostEstimate) => number, inputs: CostModelInputs, iterations: number): CostEstimate {
  for (let i = 0; i < iterations; i++) {
    const mid = Math.sqrt(lo * hi);
    if (diff(estimate(mid, inputs)) < 0) lo = mid;
    else hi = mid;
  }
  return estimate(Math.sqrt(lo * hi), inputs);
}

/**
 * The break-even points on a grid of estimates: where one option's total crosses another's (a
 * and b, c and b, a and c), and where the hybrid moves a use case from RunTask to an always-on task.
 */
export function breakEvens(grid: readonly CostEstimate[], inputs: CostModelInputs, iterations = 8): BreakEven[] {
  const found: BreakEven[] = [];
  for (const c of crossings(grid[0]?.byUseCase.map((u) => u.useCase) ?? [])) {
    for (let i = 0; i + 1 < grid.length; i++) {
      if (c.diff(grid[i]!) < 0 && c.diff(grid[i + 1]!) > 0) {
        const e = refine(grid[i]!.ordersPerHour, grid[i + 1]!.ordersPerHour, c.diff, inputs, iterations);
        found.push({ cheaperBelow: c.below, cheaperAbove: c.above, ordersPerHour: e.ordersPerHour, monthlyUsd: c.value(e), kind: c.kind });
      }
    }
  }
  return found.sort((x, y) => x.ordersPerHour - y.ordersPerHour);
}

/** The cheapest option over the grid, as ranges of load. */
export function cheapestRanges(grid: readonly CostEstimate[]): { option: Option; from: number; to: number }[] {
  const ranges: { option: Option; from: number; to: number }[] = [];
  for (const e of grid) {
    const last = ranges.at(-1);
    if (last && last.option === e.cheapest) last.to = e.ordersPerHour;
    else ranges.push({ option: e.cheapest, from: e.ordersPerHour, to: e.ordersPerHour });
  }
  return ranges;
}

export interface LadderFigures {
  readonly tasksLaunched: number;
  readonly taskSecondsPerSaga: number;
  readonly billedTaskMinutesPer1000Sagas: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number };
}

export interface LadderComparison {
  readonly point: FargateLadderPoint;
  readonly model: LadderFigures;
}

/**
 * The model run the way the bench ran each ladder point: the same window from no task running,
 * its idle grace, start delays and maximum runtime, its order interval, the point's own mix, and
 * what runs in real time on the bench machine stretched by its timeScale. Averaged over
 * `replications` seeds (a window of 60 orders sees few start delays).
 */
export function compareWithLadder(measured: MeasuredInputs, inputs: CostModelInputs, replications = 24): LadderComparison[] {
  const f = measured.fargate;
  return measured.ladder.map((point) => {
    const mixPerSaga = Object.fromEntries(Object.entries(point.deliveriesByUseCase).map(([u, n]) => [u, n / Math.max(1, point.sagas)]));
    const parameters: ModelParameters = {
      ...inputs.parameters,
      idleGraceSec: f.idleGraceMs / 1000,
      startDelaySec: { min: f.startDelayMs.min / 1000, max: f.startDelayMs.max / 1000 },
      maxRuntimeSec: f.taskMaxRuntimeMs !== undefined ? f.taskMaxRuntimeMs / 1000 : inputs.parameters.maxRuntimeSec,
    };
    const pointInputs: CostModelInputs = {
      ...inputs,
      style: point.style,
      parameters,
      mixPerSaga,
      taskSizes: {},
      defaultTaskSize: { cpuUnits: f.taskCpuUnits, memoryMiB: f.taskMemoryMiB },
    };
    let tasks = 0;
    let taskSeconds = 0;
    let billed = 0;
    let sagas = 0;
    const latencies: number[] = [];
    for (let k = 0; k < replications; k++) {
      const scenario: Scenario = {
        ordersPerHour: point.ordersPerHour,
        horizonSec: point.windowSec,
        arrivals: point.arrivals ?? 'periodic',
        seed: parameters.seed + k,
        hopDelaySec: parameters.hopDelaySec * f.timeScale,
      };
      const runs = runChain(pointInputs, scenario, f.timeScale, (_u, simulate) => ({ mode: 'runtask', run: simulate('runtask') }));
      for (const [useCase, { run }] of runs) {
        tasks += run.tasksLaunched;
        taskSeconds += run.taskSeconds;
        billed += run.billedSeconds;
        if (!DECIDING.has(useCase)) continue;
        sagas += run.deliveries;
        for (let i = 0; i < run.done.time.length; i++) latencies.push((run.done.time[i]! - run.done.origin[i]!) * 1000);
      }
    }
    latencies.sort((x, y) => x - y);
    return {
      point,
      model: {
        tasksLaunched: tasks / replications,
        taskSecondsPerSaga: taskSeconds / Math.max(1, sagas),
        billedTaskMinutesPer1000Sagas: (billed / 60 / Math.max(1, sagas)) * 1000,
        latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99) },
      },
    };
  });
}
