/**
 * `npm run ecs:cost`: the monthly cost of the saga consumers for the three deployments of
 * docs/cost.md, from the Fargate ladder a bench run measured (`ecs.fargate` of
 * bench/results/latest.json).
 *
 * Options: --orders-per-hour N (the three deployments' monthly cost at that rate, line by line);
 * --results FILE (default bench/results/latest.json); --style choreography|orchestration (default
 * choreography); --render (writes docs/cost-break-even.svg and the generated section of
 * docs/cost.md); --egress nat|nat-s3-gateway|endpoints, --architecture x86_64|arm64, --spot (the
 * use cases other than compensations on Fargate Spot), --image-mb N (the image's compressed size).
 * Without --orders-per-hour or --render, prints the break-even points.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { breakEvenChart } from './chart.js';
import { measuredInputs, MissingMeasurementError, type MeasuredInputs, type Style } from './measured.js';
import {
  breakEvens,
  compareWithLadder,
  DEFAULT_PRICES,
  estimate,
  logGrid,
  parametersFrom,
  type CostModelInputs,
  type ModelParameters,
  type TaskSize,
} from './model.js';
import { renderCostSection, renderEstimate, replaceCostSection, usd, type DeploymentVariant } from './report.js';
import { exitWithHelpIfAsked } from '../../src/entrypoints/cli-help.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The range of the chart and the break-even search, orders per hour. */
export const GRID = { from: 10, to: 100_000, perDecade: 8 } as const;
/** The loads of the table in docs/cost.md. */
export const TABLE_RATES = [10, 60, 600, 3_600, 7_200, 36_000, 100_000] as const;

/** `--name value` or `--name=value`. */
function option(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  if (i !== -1) return args[i + 1];
  return args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

/** CPU units and memory of every task definition family in `dir` (deploy/ecs). */
export async function taskSizesFrom(dir: string): Promise<Record<string, TaskSize>> {
  const sizes: Record<string, TaskSize> = {};
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.json')).sort()) {
    const definition = JSON.parse(await readFile(join(dir, file), 'utf8')) as { family?: string; cpu?: string; memory?: string };
    if (definition.family && Number(definition.cpu) > 0 && Number(definition.memory) > 0) {
      sizes[definition.family] = { cpuUnits: Number(definition.cpu), memoryMiB: Number(definition.memory) };
    }
  }
  return sizes;
}

/** The deployment choices a command line may change: --egress, --architecture, --spot, --image-mb. */
export function deploymentOverrides(args: readonly string[]): Partial<ModelParameters> {
  const overrides: { -readonly [K in keyof ModelParameters]?: ModelParameters[K] } = {};
  const egress = option(args, 'egress');
  if (egress !== undefined) {
    if (egress !== 'nat' && egress !== 'nat-s3-gateway' && egress !== 'endpoints')
      throw new MissingMeasurementError(`--egress: nat, nat-s3-gateway or endpoints, not ${egress}`);
    overrides.egress = egress;
  }
  const architecture = option(args, 'architecture');
  if (architecture !== undefined) {
    if (architecture !== 'x86_64' && architecture !== 'arm64')
      throw new MissingMeasurementError(`--architecture: x86_64 or arm64, not ${architecture}`);
    overrides.architecture = architecture;
  }
  if (args.includes('--spot')) {
    if (overrides.architecture === 'arm64')
      throw new MissingMeasurementError('--spot: Fargate Spot runs x86_64 tasks only, not with --architecture arm64');
    overrides.spot = true;
  }
  const image = option(args, 'image-mb');
  if (image !== undefined) {
    const mb = Number(image);
    if (!(Number.isFinite(mb) && mb > 0)) throw new MissingMeasurementError(`--image-mb: a positive number of megabytes, not ${image}`);
    overrides.imageCompressedMb = mb;
  }
  return overrides;
}

/** The model's inputs from a measurement: prices, the code's defaults, the measured mix and the task definitions' sizes. */
export function costInputs(
  measured: MeasuredInputs,
  taskSizes: Readonly<Record<string, TaskSize>>,
  overrides: Partial<ModelParameters> = {},
): CostModelInputs {
  return {
    style: measured.style,
    prices: DEFAULT_PRICES,
    parameters: parametersFrom(measured, overrides),
    mixPerSaga: measured.mixPerSaga,
    taskSizes,
    defaultTaskSize: { cpuUnits: measured.fargate.taskCpuUnits, memoryMiB: measured.fargate.taskMemoryMiB },
  };
}

/** Reads a results file and what the model needs from it; a missing file or section is a MissingMeasurementError. */
export async function loadMeasured(file: string, style: Style): Promise<MeasuredInputs> {
  if (!existsSync(file))
    throw new MissingMeasurementError(
      `${file} does not exist: run \`npm run bench\` (or \`npm run bench -- --only=fargate\` on an existing results file) to measure the Fargate ladder.`,
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new MissingMeasurementError(`${file} is not JSON (${error instanceof Error ? error.message : String(error)}).`);
  }
  return measuredInputs(parsed, style, file);
}

/** The chart's rates, with the table's among them so that its rows are estimates at exactly those rates. */
export function gridRates(): number[] {
  return [...new Set([...logGrid(GRID.from, GRID.to, GRID.perDecade).map((r) => Math.round(r * 1000) / 1000), ...TABLE_RATES])].sort(
    (x, y) => x - y,
  );
}

/** The loads of the deployment-choices table. */
export const VARIANT_RATES = [60, 600, 7_200] as const;

/** The model under each deployment choice the CDK app offers, one change at a time from `inputs`. */
export function deploymentVariants(inputs: CostModelInputs): DeploymentVariant[] {
  const p = inputs.parameters;
  const choices: { name: string; overrides: Partial<ModelParameters> }[] = [
    { name: `as above (${p.architecture}, ${p.spot ? 'Spot' : 'on demand'}, egress ${p.egress})`, overrides: {} },
    { name: 'ARM64 (Graviton), on demand', overrides: { architecture: 'arm64', spot: false } },
    { name: 'x86_64, Fargate Spot for all but the compensations', overrides: { architecture: 'x86_64', spot: true } },
    { name: 'NAT gateway without the S3 gateway endpoint', overrides: { egress: 'nat' } },
    { name: 'interface endpoints (egress=endpoints)', overrides: { egress: 'endpoints' } },
    { name: 'Container Insights off', overrides: { containerInsights: false } },
  ];
  return choices.map(({ name, overrides }) => {
    const variant: CostModelInputs = { ...inputs, parameters: { ...p, ...overrides } };
    return { name, estimates: VARIANT_RATES.map((rate) => estimate(rate, variant)) };
  });
}

async function render(inputs: CostModelInputs, measured: MeasuredInputs, file: string, command: string): Promise<void> {
  const grid = gridRates().map((rate) => estimate(rate, inputs));
  const points = breakEvens(grid, inputs);
  const comparisons = compareWithLadder(measured, inputs);
  const svg = join(ROOT, 'docs/cost-break-even.svg');
  await writeFile(svg, `${breakEvenChart(`Consumers' monthly cost against load (${inputs.style}, us-east-1 Fargate)`, grid, points)}\n`);
  const md = join(ROOT, 'docs/cost.md');
  const current = existsSync(md) ? await readFile(md, 'utf8') : '# What the consumers cost\n';
  const section = renderCostSection({
    inputs,
    measured,
    file,
    comparisons,
    grid,
    breakEvens: points,
    tableRates: TABLE_RATES,
    command,
    variants: deploymentVariants(inputs),
  });
  await writeFile(md, replaceCostSection(current, section));
  process.stdout.write(`wrote ${relative(ROOT, svg)} and the generated section of ${relative(ROOT, md)}\n`);
  for (const p of points)
    process.stdout.write(
      `break-even: ${p.cheaperBelow} below ${Math.round(p.ordersPerHour)} orders/h, ${p.cheaperAbove} above (${usd(p.monthlyUsd)} a month)\n`,
    );
}

const USAGE = `usage: npm run ecs:cost -- [--orders-per-hour N] [--results FILE] [--style choreography|orchestration] [--render]
  the monthly cost of the saga consumers for the three deployments of docs/cost.md, from the
  Fargate ladder a bench run measured (bench/results/latest.json, or --results FILE).
  --orders-per-hour N   the three deployments' monthly cost at N orders per hour
  --style S             the saga style measured (choreography)
  --render              rewrites docs/cost-break-even.svg and the generated section of docs/cost.md
  Without --orders-per-hour or --render: the break-even points.`;

async function main(args: readonly string[]): Promise<void> {
  exitWithHelpIfAsked(args, USAGE);
  const file = resolve(option(args, 'results') ?? join(ROOT, 'bench/results/latest.json'));
  const style = (option(args, 'style') ?? 'choreography') as Style;
  if (style !== 'choreography' && style !== 'orchestration')
    throw new MissingMeasurementError(`--style: choreography or orchestration, not ${String(style)}`);
  const rateText = option(args, 'orders-per-hour');
  const rate = rateText === undefined ? undefined : Number(rateText);
  if (rate !== undefined && !(Number.isFinite(rate) && rate > 0))
    throw new MissingMeasurementError(`--orders-per-hour: a positive number, not ${String(rateText)}`);
  const measured = await loadMeasured(file, style);
  const inputs = costInputs(measured, await taskSizesFrom(join(ROOT, 'deploy/ecs')), deploymentOverrides(args));
  const shownFile = relative(ROOT, file) || file;
  if (rate !== undefined) process.stdout.write(`${renderEstimate(estimate(rate, inputs), inputs, measured, shownFile)}\n`);
  if (args.includes('--render')) await render(inputs, measured, shownFile, `npm run ecs:cost -- ${args.join(' ')}`);
  if (rate === undefined && !args.includes('--render')) {
    const grid = gridRates().map((r) => estimate(r, inputs));
    for (const p of breakEvens(grid, inputs))
      process.stdout.write(
        `break-even: ${p.cheaperBelow} below ${Math.round(p.ordersPerHour)} orders/h, ${p.cheaperAbove} above (${usd(p.monthlyUsd)} a month)\n`,
      );
    process.stdout.write(
      'npm run ecs:cost -- --orders-per-hour N prints the three deployments at N orders/h; --render rewrites docs/cost.md and docs/cost-break-even.svg\n',
    );
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    // One line a user can act on: which file lacks what, and the command that measures it.
    process.stderr.write(
      `ecs:cost: ${error instanceof MissingMeasurementError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  });
}
