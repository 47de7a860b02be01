import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { measuredInputs, MissingMeasurementError } from '../../../bench/cost/measured.js';
import {
  alwaysOnCost,
  breakEvens,
  DEFAULT_PRICES,
  estimate,
  logGrid,
  sweeperCost,
  taskHourUsd,
  type CostModelInputs,
} from '../../../bench/cost/model.js';
import { costInputs, loadMeasured, taskSizesFrom } from '../../../bench/cost/run.js';
import { independentFlow, simulateUseCase, type TaskBehaviour } from '../../../bench/cost/simulation.js';

const FIXTURE = join(import.meta.dirname, 'fixtures/fargate-results.json');
const fixture = (): Record<string, unknown> => JSON.parse(readFileSync(FIXTURE, 'utf8')) as Record<string, unknown>;

/** The fixture's inputs with a shorter simulated time, so a grid takes well under a second. */
async function inputs(overrides: Partial<CostModelInputs> = {}): Promise<CostModelInputs> {
  const base = costInputs(
    measuredInputs(fixture(), 'choreography', FIXTURE),
    await taskSizesFrom(join(import.meta.dirname, '../../../deploy/ecs')),
  );
  return { ...base, parameters: { ...base.parameters, targetDeliveries: 2_000, minSimulatedHours: 2 }, ...overrides };
}

const behaviour: TaskBehaviour = {
  idleGraceSec: 5,
  maxRuntimeSec: 600,
  startDelaySec: { min: 10, max: 10 },
  processStartSec: 0.5,
  stopOverheadSec: 1,
  billedStartShare: 1,
  scaleOutBacklog: 500,
  maxTasksPerUseCase: 10,
  serviceSec: 0.01,
  minimumBilledSec: 60,
};

describe('the simulation bills as Fargate does', () => {
  it('bills a task that lived less than a minute a whole minute', () => {
    const run = simulateUseCase(
      { time: Float64Array.of(0), origin: Float64Array.of(0) },
      behaviour,
      () => 0,
      () => 0,
    );
    expect(run.tasksLaunched).toBe(1);
    // 10 s start + 0.5 s process start + 0.01 s work + 5 s idle grace + 1 s stop.
    expect(run.taskSeconds).toBeCloseTo(16.51, 2);
    expect(run.billedSeconds).toBe(60);
  });

  it('bills a longer task per started second', () => {
    const run = simulateUseCase(
      { time: Float64Array.of(0), origin: Float64Array.of(0) },
      { ...behaviour, idleGraceSec: 60 },
      () => 0,
      () => 0,
    );
    expect(run.taskSeconds).toBeCloseTo(71.51, 2);
    expect(run.billedSeconds).toBe(72);
  });

  it('keeps one task for deliveries closer together than the idle grace', () => {
    const flow = independentFlow(1, 30, 'periodic', () => 0.5);
    const run = simulateUseCase(
      flow,
      behaviour,
      () => 0,
      () => 0,
    );
    expect(run.deliveries).toBe(30);
    expect(run.tasksLaunched).toBe(1);
  });
});

describe('prices and fixed costs', () => {
  it('prices a 256-unit, 512 MiB task by the vCPU-hour and the GB-hour', () => {
    expect(taskHourUsd({ cpuUnits: 256, memoryMiB: 512 }, DEFAULT_PRICES)).toBeCloseTo(0.25 * 0.04048 + 0.5 * 0.004445, 10);
  });

  it('bills every run of the sweeper one minute', async () => {
    const i = await inputs();
    const sweeper = sweeperCost(i);
    expect(sweeper.billedSecPerRun).toBe(60);
    expect(sweeper.monthlyUsd).toBeCloseTo(60 * 730 * 60 * (taskHourUsd({ cpuUnits: 256, memoryMiB: 512 }, DEFAULT_PRICES) / 3600), 6);
  });

  it('keeps at least two always-on workers, and adds some when the CPU needs them', async () => {
    const i = await inputs();
    expect(alwaysOnCost(1, i).workers).toBe(2);
    expect(alwaysOnCost(1, i).redisUsd).toBeCloseTo(0.016 * 730, 6);
    expect(alwaysOnCost(1_000_000, i).workers).toBeGreaterThan(2);
  });
});

describe('the three deployments against load', () => {
  it('makes RunTask the cheapest at a low rate and not at a very high one', async () => {
    const i = await inputs();
    expect(estimate(60, i).cheapest).toBe('a');
    const busy = estimate(200_000, i);
    expect(busy.a.monthlyUsd).toBeGreaterThan(busy.b.monthlyUsd);
  });

  it('costs more on RunTask as the load grows', async () => {
    const i = await inputs();
    const costs = [10, 100, 1_000, 10_000].map((r) => estimate(r, i).a.monthlyUsd);
    for (let k = 1; k < costs.length; k++) expect(costs[k]).toBeGreaterThan(costs[k - 1]!);
  });

  it('moves the RunTask / always-on break-even up when Redis costs more', async () => {
    const rateOf = async (redisNodeHourUsd: number): Promise<number> => {
      const base = await inputs({ prices: { ...DEFAULT_PRICES, redisNodeHourUsd } });
      // Only Redis moves: the lines beside compute (Container Insights per family) are left out.
      const i = { ...base, parameters: { ...base.parameters, minSimulatedHours: 0.25, containerInsights: false } };
      const grid = logGrid(5_000, 500_000, 2).map((r) => estimate(r, i));
      const point = breakEvens(grid, i, 5).find(
        (p) => p.kind === 'options' && p.cheaperBelow.startsWith('(a)') && p.cheaperAbove.startsWith('(b)'),
      );
      expect(point).toBeDefined();
      return point!.ordersPerHour;
    };
    const cheap = await rateOf(0.016);
    const dear = await rateOf(0.064);
    expect(dear).toBeGreaterThan(cheap);
  });
});

describe('the measured inputs', () => {
  it('reads the mix of deliveries per saga from the ladder', () => {
    const m = measuredInputs(fixture(), 'choreography', FIXTURE);
    expect(m.mixPerSaga).toEqual({ 'customer.reserve-credit': 1, 'order.approve-order': 1 });
    expect(m.cpuMsPerSaga).toBe(2.49);
  });

  it('says to run the ladder when the results lack ecs.fargate', () => {
    const results = fixture();
    const { fargate: _, ...ecs } = results['ecs'] as Record<string, unknown>;
    const read = () => measuredInputs({ ...results, ecs }, 'choreography', 'latest.json');
    expect(read).toThrow(MissingMeasurementError);
    expect(read).toThrow(/no ecs\.fargate section.*npm run bench -- --only=fargate/);
  });

  it('says so when the results file does not exist', async () => {
    await expect(loadMeasured('/nonexistent/latest.json', 'choreography')).rejects.toThrow(/does not exist: run `npm run bench`/);
  });
});
