import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BILL_PRICES, DEFAULT_BILL_PARAMETERS, fixedEgressUsd, otherLines, type BillParameters } from '../../../bench/cost/bill.js';
import { measuredInputs } from '../../../bench/cost/measured.js';
import { COMPENSATIONS, DEFAULT_PRICES, estimate, taskHourUsd, type CostModelInputs } from '../../../bench/cost/model.js';
import { costInputs, taskSizesFrom } from '../../../bench/cost/run.js';
import { readFileSync } from 'node:fs';

const FIXTURE = join(import.meta.dirname, 'fixtures/fargate-results.json');
const params = (over: Partial<BillParameters> = {}): BillParameters => ({ ...DEFAULT_BILL_PARAMETERS, ...over });
const nothing = { taskStarts: 0, runtimeImageStarts: 0, taskMinutes: 0, deliveries: 0, families: 0 };

async function inputs(over: Partial<CostModelInputs['parameters']> = {}): Promise<CostModelInputs> {
  const measured = measuredInputs(JSON.parse(readFileSync(FIXTURE, 'utf8')) as unknown, 'choreography', FIXTURE);
  const base = costInputs(measured, await taskSizesFrom(join(import.meta.dirname, '../../../deploy/ecs')));
  return { ...base, parameters: { ...base.parameters, targetDeliveries: 2_000, minSimulatedHours: 2, ...over } };
}

describe('moving the image to every task start', () => {
  it('prices the sweeper’s pulls through a NAT gateway without the S3 gateway endpoint at $0.045 per GB', () => {
    // A sweeper run every minute: 43,800 pulls of a 100 MB image a month, about 4.2 TB.
    const lines = otherLines(
      { ...nothing, taskStarts: 60 * 730, runtimeImageStarts: 60 * 730 },
      params({ egress: 'nat', containerInsights: false, runtimeImageCompressedMb: 100 }),
      BILL_PRICES,
    );
    expect(lines.pulledGb).toBeCloseTo((43_800 * 100) / 1024, 6);
    expect(lines.networkUsd).toBeCloseTo(((43_800 * 100) / 1024) * 0.045, 6);
    expect(lines.networkUsd).toBeGreaterThan(190);
  });

  it('pulls the slim task image for use-case tasks and the runtime image for the rest', () => {
    const lines = otherLines(
      { ...nothing, taskStarts: 1_000, runtimeImageStarts: 400 },
      params({ egress: 'nat', imageCompressedMb: 80, runtimeImageCompressedMb: 100 }),
      BILL_PRICES,
    );
    expect(lines.pulledGb).toBeCloseTo((600 * 80 + 400 * 100) / 1024, 9);
  });

  it('costs nothing per pull once the S3 gateway endpoint carries the layers, with NAT or interface endpoints', () => {
    for (const egress of ['nat-s3-gateway', 'endpoints'] as const)
      expect(otherLines({ ...nothing, taskStarts: 43_800 }, params({ egress }), BILL_PRICES).networkUsd).toBe(0);
  });

  it('bills interface endpoints per hour and per zone whatever runs the use cases', () => {
    expect(fixedEgressUsd(params({ egress: 'endpoints' }), BILL_PRICES, 730).monthlyUsd).toBeCloseTo(5 * 2 * 0.01 * 730, 6);
    expect(fixedEgressUsd(params({ egress: 'nat' }), BILL_PRICES, 730).monthlyUsd).toBeCloseTo(0.045 * 730, 6);
  });
});

describe('logs and Container Insights', () => {
  it('prices each task start’s log lines and each delivery’s at $0.50 per GB ingested', () => {
    const lines = otherLines(
      { ...nothing, taskStarts: 1_000_000, deliveries: 1_000_000 },
      params({ logBytesPerTaskStart: 2_000, logBytesPerDelivery: 500, containerInsights: false }),
      BILL_PRICES,
    );
    expect(lines.logsUsd).toBeCloseTo((2_500_000_000 / 1024 ** 3) * 0.5, 6);
  });

  it('prices Container Insights per task definition family and per task-minute, and nothing when it is off', () => {
    const activity = { ...nothing, families: 3, taskMinutes: 43_800 };
    const on = otherLines(activity, params(), BILL_PRICES);
    expect(on.insightsUsd).toBeCloseTo(3 * 8 * 0.3 + ((43_800 * 1_000) / 1024 ** 3) * 0.5, 6);
    expect(otherLines(activity, params({ containerInsights: false }), BILL_PRICES).insightsUsd).toBe(0);
  });
});

describe('architecture and capacity provider', () => {
  const size = { cpuUnits: 256, memoryMiB: 512 };

  it('prices an ARM64 (Graviton) task about 20 % below x86_64', () => {
    const x86 = taskHourUsd(size, DEFAULT_PRICES);
    const arm = taskHourUsd(size, DEFAULT_PRICES, 'arm64');
    expect(arm).toBeCloseTo(0.25 * 0.03238 + 0.5 * 0.00356, 9);
    expect(1 - arm / x86).toBeGreaterThan(0.19);
    expect(1 - arm / x86).toBeLessThan(0.21);
  });

  it('refuses Fargate Spot on ARM64, which Spot does not run', () => {
    expect(() => taskHourUsd(size, DEFAULT_PRICES, 'arm64', true)).toThrow(/x86_64 tasks only/);
  });

  it('puts every use case but the compensations on Spot, and keeps the sweeper on demand', async () => {
    // The fixture's orders are all approved: add a compensation's share so that one stays on demand.
    const withCompensation = async (over: Partial<CostModelInputs['parameters']>): Promise<CostModelInputs> => {
      const i = await inputs(over);
      return { ...i, mixPerSaga: { ...i.mixPerSaga, 'customer.release-credit': 0.2 } };
    };
    const onDemand = estimate(600, await withCompensation({}));
    const spot = estimate(600, await withCompensation({ spot: true }));
    expect(spot.byUseCase.map((u) => u.useCase)).toContain('customer.release-credit');
    expect(spot.sweeper.monthlyUsd).toBeCloseTo(onDemand.sweeper.monthlyUsd, 9);
    for (const u of spot.byUseCase) {
      const before = onDemand.byUseCase.find((x) => x.useCase === u.useCase)!;
      const share = COMPENSATIONS.has(u.useCase) ? 1 : DEFAULT_PRICES.spotShareOfOnDemand;
      expect(u.runTask.monthlyUsd).toBeCloseTo(before.runTask.monthlyUsd * share, 6);
    }
    expect(spot.a.computeUsd).toBeLessThan(onDemand.a.computeUsd);
  });
});

describe('each option’s total', () => {
  it('adds the image pulls, logs and Insights of its own task starts to its compute', async () => {
    const e = estimate(600, await inputs({ egress: 'nat' }));
    for (const o of ['a', 'b', 'c'] as const) expect(e[o].monthlyUsd).toBeCloseTo(e[o].computeUsd + e[o].other.totalUsd, 9);
    // (a) launches a task per cold start and the sweeper every minute; (b)'s workers pull once per release.
    expect(e.a.activity.taskStarts).toBeGreaterThan(60 * 730);
    expect(e.b.activity.taskStarts).toBe(e.b.workers * DEFAULT_BILL_PARAMETERS.deploysPerMonth);
    expect(e.a.other.networkUsd).toBeGreaterThan(20 * e.b.other.networkUsd);
  });
});
