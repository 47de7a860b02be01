import type { MeasuredInputs } from './measured.js';
import {
  OPTION_NAMES,
  PARAMETER_REASONS,
  cheapestRanges,
  taskHourUsd,
  type BreakEven,
  type CostEstimate,
  type CostModelInputs,
  type LadderComparison,
  type ModelParameters,
  type Option,
  type OptionCost,
} from './model.js';

export const SECTION_START = '<!-- cost:model:start (written by npm run ecs:cost -- --render; edit outside these markers) -->';
export const SECTION_END = '<!-- cost:model:end -->';

export const usd = (n: number): string => `$${n.toFixed(2)}`;
const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const num = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits }) : '–');
const pct = (n: number): string => `${(n * 100).toFixed(1)} %`;

/** Every value the model ran with, its name and why (one line each). */
export function parameterLines(p: ModelParameters): string[] {
  return (Object.keys(PARAMETER_REASONS) as (keyof ModelParameters)[]).map((key) => {
    const v = p[key];
    const value = typeof v === 'object' ? `${v.min}–${v.max}` : String(v);
    return `${key} = ${value}: ${PARAMETER_REASONS[key]}`;
  });
}

export function pricesLine(inputs: CostModelInputs): string {
  const pr = inputs.prices;
  return (
    `${pr.platform}, ${pr.region}: $${pr.vcpuHourUsd} per vCPU-hour, $${pr.gbHourUsd} per GB-hour, per-second billing with a ${pr.minimumBilledSec} s minimum, ${pr.source}; ` +
    `ARM64: $${pr.arm64VcpuHourUsd} per vCPU-hour, $${pr.arm64GbHourUsd} per GB-hour (${pr.arm64Source}); Spot at ${pct(pr.spotShareOfOnDemand)} of on demand (${pr.spotSource}); ` +
    `${pr.natSource}; ${pr.endpointSource}; ${pr.cloudWatchSource}; ` +
    `Redis ${pr.redisNodeType} $${pr.redisNodeHourUsd} per hour (${pr.redisSource}); a month is ${pr.hoursPerMonth} hours`
  );
}

const EGRESS_TEXT: Readonly<Record<ModelParameters['egress'], string>> = {
  nat: 'through the NAT gateway (no S3 gateway endpoint)',
  'nat-s3-gateway': 'layers through the S3 gateway endpoint (free), the rest through the NAT gateway',
  endpoints: 'layers through the S3 gateway endpoint (free), the rest through interface endpoints',
};

/** An option's lines beside compute: image pulls, logs, Container Insights. */
function otherLinesText(o: OptionCost, p: ModelParameters, pad: (s: string) => string): string[] {
  return [
    `${pad(`    image pulls: ${num(o.activity.taskStarts, 0)} task starts, ${num(o.other.pulledGb, 0)} GB, ${EGRESS_TEXT[p.egress]}`)}${usd(o.other.networkUsd)}`,
    `${pad(`    CloudWatch Logs: ${num(o.activity.taskStarts, 0)} task starts, ${num(o.activity.deliveries, 0)} deliveries`)}${usd(o.other.logsUsd)}`,
    `${pad(`    Container Insights: ${o.activity.families} task families and services, ${num(o.activity.taskMinutes, 0)} task-minutes${p.containerInsights ? '' : ' (off)'}`)}${usd(o.other.insightsUsd)}`,
  ];
}

export function provenanceLine(measured: MeasuredInputs, file: string): string {
  const p = measured.provenance;
  const run = `${p.mode} run of ${p.generatedAt.slice(0, 10)}, \`${p.command}\``;
  const l = p.ladder;
  // The ladder may have been measured alone and merged into an older run (npm run bench -- --only=fargate).
  if (!l || (l.generatedAt.slice(0, 10) === p.generatedAt.slice(0, 10) && l.command === p.command)) return `${file} (${run})`;
  return `${file} (the Fargate ladder: ${l.mode} run of ${l.generatedAt.slice(0, 10)}, \`${l.command}\`; the rest: ${run})`;
}

function sizeText(inputs: CostModelInputs, family: string): string {
  const s = inputs.taskSizes[family] ?? inputs.defaultTaskSize;
  return `${s.cpuUnits} CPU units, ${s.memoryMiB} MiB, ${usd(taskHourUsd(s, inputs.prices) * inputs.prices.hoursPerMonth)} a month always on`;
}

/** What `npm run ecs:cost -- --orders-per-hour N` prints. */
export function renderEstimate(e: CostEstimate, inputs: CostModelInputs, measured: MeasuredInputs, file: string): string {
  const rate = int(e.ordersPerHour);
  const pad = (s: string) => (s.length >= 62 ? `${s}  ` : s.padEnd(62));
  const lines: string[] = [`Monthly cost of the saga consumers at ${rate} orders/h (${inputs.style})`, ''];
  lines.push(`${pad(OPTION_NAMES.a)}${usd(e.a.monthlyUsd)}`);
  for (const u of e.byUseCase) {
    const r = u.runTask;
    lines.push(
      `${pad(`    ${u.useCase}: ${num(r.tasksPerHour, 2)} tasks/h × ${num(r.billedSecPerTask, 0)} s billed, ${pct(r.waitedForStartShare)} of deliveries wait for a start`)}${usd(r.monthlyUsd)}`,
    );
  }
  lines.push(
    `${pad(`    saga-sweeper: ${inputs.parameters.sweeperRunsPerHour} runs/h × ${num(e.sweeper.billedSecPerRun, 0)} s billed`)}${usd(e.sweeper.monthlyUsd)}`,
  );
  lines.push(...otherLinesText(e.a, inputs.parameters, pad));
  lines.push(`${pad(OPTION_NAMES.b)}${usd(e.b.monthlyUsd)}`);
  lines.push(
    `${pad(`    worker.js × ${e.b.workers} (the load needs ${pct(e.b.cpuShareOfOneWorker)} of one's vCPU)`)}${usd(e.b.workerUsd)}`,
  );
  lines.push(
    `${pad(`    Redis ${inputs.prices.redisNodeType} × ${inputs.parameters.redisNodes}, the sweeper in-process`)}${usd(e.b.redisUsd)}`,
  );
  lines.push(...otherLinesText(e.b, inputs.parameters, pad));
  lines.push(`${pad(`${OPTION_NAMES.c}: per use case, the cheaper mode`)}${usd(e.c.monthlyUsd)}`);
  for (const u of e.byUseCase) {
    const h = u.hybrid;
    const what =
      h.choice === 'always-on'
        ? `always-on task (RunTask, with its image pulls: ${usd(h.runTaskUsd)})`
        : `RunTask (always-on, with its image pulls: ${usd(h.alwaysOnUsd)})`;
    const bursts = h.choice === 'always-on' && h.burstTasksPerHour > 0 ? `, ${num(h.burstTasksPerHour, 2)} burst tasks/h` : '';
    lines.push(`${pad(`    ${u.useCase}: ${what}${bursts}`)}${usd(h.computeUsd)}`);
  }
  lines.push(`${pad('    saga-sweeper, scheduled as in (a)')}${usd(e.sweeper.monthlyUsd)}`);
  lines.push(...otherLinesText(e.c, inputs.parameters, pad));
  lines.push(`${pad(`Paid whatever runs the use cases: ${e.fixedEgress.what}`)}${usd(e.fixedEgress.monthlyUsd)}`);
  const others = (['a', 'b', 'c'] as const).filter((o) => o !== e.cheapest).map((o) => `${o} ${usd(e[o].monthlyUsd)}`);
  lines.push(
    '',
    `Cheapest at ${rate} orders/h: ${OPTION_NAMES[e.cheapest]}, ${usd(e[e.cheapest].monthlyUsd)} a month (${others.join(', ')}).`,
  );
  lines.push('', 'Inputs:', `  prices: ${pricesLine(inputs)}`, `  measured figures: ${provenanceLine(measured, file)}`);
  if (measured.provenance.fixture) lines.push(`  NOT A MEASUREMENT: ${measured.provenance.fixture}`);
  lines.push(
    `  deliveries per saga: ${Object.entries(inputs.mixPerSaga)
      .map(([u, v]) => `${u} ${num(v, 3)}`)
      .join(', ')}`,
  );
  const families = [...new Set([...Object.keys(inputs.taskSizes)])].sort();
  lines.push(`  task sizes (deploy/ecs): ${families.map((f) => `${f} ${sizeText(inputs, f)}`).join('; ') || sizeText(inputs, '')}`);
  lines.push(`  simulated: ${num(e.simulatedHours, 0)} hours of arrivals, scaled to a month`);
  for (const line of parameterLines(inputs.parameters)) lines.push(`  ${line}`);
  return lines.join('\n');
}

function comparisonTable(rows: readonly LadderComparison[]): string[] {
  const out = [
    '| style | orders/h | window | tasks launched, measured / model | task-seconds per saga, measured / model | billed task-minutes per 1,000 sagas, measured / model (model ÷ measured) | saga p50, s, measured / model | saga p99, s, measured / model |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const { point: p, model: m } of rows) {
    out.push(
      `| ${p.style} | ${int(p.ordersPerHour)} | ${int(p.windowSec)} s | ${p.tasksLaunched} / ${num(m.tasksLaunched)} | ${num(p.taskSecondsPerSaga, 2)} / ${num(m.taskSecondsPerSaga, 2)} | ` +
        `${num(p.billedTaskMinutesPer1000Sagas)} / ${num(m.billedTaskMinutesPer1000Sagas)} (${num(m.billedTaskMinutesPer1000Sagas / p.billedTaskMinutesPer1000Sagas, 2)}) | ` +
        `${num(p.latencyMs.p50 / 1000)} / ${num(m.latencyMs.p50 / 1000)} | ${num(p.latencyMs.p99 / 1000)} / ${num(m.latencyMs.p99 / 1000)} |`,
    );
  }
  return out;
}

function recommendation(grid: readonly CostEstimate[], points: readonly BreakEven[]): string[] {
  const ranges = cheapestRanges(grid);
  const out: string[] = [];
  ranges.forEach((r, i) => {
    const mid = grid.find((e) => e.ordersPerHour >= Math.sqrt(r.from * r.to))!;
    const cost = mid[r.option].monthlyUsd;
    // An option that costs the same there is the same deployment (the hybrid with every use case on RunTask): named, not ranked.
    const same = (['a', 'b', 'c'] as const).filter((o) => o !== r.option && Math.abs(mid[o].monthlyUsd - cost) < 0.005);
    const rest = (['a', 'b', 'c'] as const).filter((o) => o !== r.option && !same.includes(o));
    const runnerUp: Option = rest.reduce((best, o) => (mid[o].monthlyUsd < mid[best].monthlyUsd ? o : best));
    const margin = mid[runnerUp].monthlyUsd / cost - 1;
    const from = i === 0 ? `up to ${int(r.to)}` : i === ranges.length - 1 ? `from ${int(r.from)}` : `from ${int(r.from)} to ${int(r.to)}`;
    const tie = same.length > 0 ? ` (${same.map((o) => OPTION_NAMES[o]).join(', ')} the same there)` : '';
    out.push(
      `- **${OPTION_NAMES[r.option]}** ${from} orders/h on the grid: at ${int(mid.ordersPerHour)} orders/h it costs ${usd(cost)} a month${tie}, ` +
        `${pct(margin)} less than ${OPTION_NAMES[runnerUp]} (${usd(mid[runnerUp].monthlyUsd)}).`,
    );
  });
  const switches = points.filter((p) => p.kind === 'hybrid-switch' && p.cheaperAbove.endsWith('always-on'));
  for (const s of switches)
    out.push(
      `- The hybrid runs ${s.cheaperAbove.replace(/ always-on$/, '')} on an always-on task above ${int(s.ordersPerHour)} orders/h (${usd(s.monthlyUsd)} a month there either way).`,
    );
  if (switches.length === 0)
    out.push('- The hybrid keeps every use case on RunTask over the whole range: an always-on task never costs less.');
  return out;
}

export interface DeploymentVariant {
  readonly name: string;
  readonly estimates: readonly CostEstimate[];
}

function besideComputeTable(rows: readonly CostEstimate[], p: ModelParameters): string[] {
  const out = [
    `With ${EGRESS_TEXT[p.egress]}, ${num(p.imageCompressedMb, 0)} MB per pull of the task image and ${num(p.runtimeImageCompressedMb, 0)} MB of the runtime image, Container Insights ${p.containerInsights ? 'on' : 'off'}; each cell: image pulls + logs + Insights = their sum (already in the totals above).`,
    '',
    '| orders/h | (a) RunTask | (b) always-on | (c) hybrid |',
    '|---|---|---|---|',
  ];
  const cell = (o: OptionCost) =>
    `${usd(o.other.networkUsd)} + ${usd(o.other.logsUsd)} + ${usd(o.other.insightsUsd)} = ${usd(o.other.totalUsd)}`;
  for (const e of rows) out.push(`| ${int(e.ordersPerHour)} | ${cell(e.a)} | ${cell(e.b)} | ${cell(e.c)} |`);
  return out;
}

function variantsTable(variants: readonly DeploymentVariant[]): string[] {
  const rates = variants[0]?.estimates.map((e) => e.ordersPerHour) ?? [];
  const out = [
    `| deployment | ${rates.map((r) => `${int(r)} orders/h: (a) / (b) / (c)`).join(' | ')} | paid whatever runs the use cases |`,
    `|---|${rates.map(() => '---|').join('')}---|`,
  ];
  for (const v of variants)
    out.push(
      `| ${v.name} | ${v.estimates.map((e) => `${usd(e.a.monthlyUsd)} / ${usd(e.b.monthlyUsd)} / ${usd(e.c.monthlyUsd)}`).join(' | ')} | ${usd(v.estimates[0]!.fixedEgress.monthlyUsd)} (${v.estimates[0]!.fixedEgress.what}) |`,
    );
  return out;
}

/** The generated section of docs/cost.md. */
export function renderCostSection(args: {
  readonly inputs: CostModelInputs;
  readonly measured: MeasuredInputs;
  readonly file: string;
  readonly comparisons: readonly LadderComparison[];
  readonly grid: readonly CostEstimate[];
  readonly breakEvens: readonly BreakEven[];
  readonly tableRates: readonly number[];
  readonly command: string;
  /** The same model under other deployment choices (architecture, Spot, egress), at a few loads. */
  readonly variants: readonly DeploymentVariant[];
}): string {
  const { inputs, measured, file, comparisons, grid, breakEvens: points } = args;
  const f = measured.fargate;
  const lines: string[] = [SECTION_START, '', '## Results (generated)', ''];
  lines.push(`Produced by \`${args.command}\` from ${provenanceLine(measured, file)}, saga style ${inputs.style}.`);
  if (measured.provenance.fixture)
    lines.push(
      '',
      `> **Not a measurement.** These figures come from a hand-made input: ${measured.provenance.fixture}. Run \`npm run bench\`, then \`npm run ecs:cost -- --render\`, to replace them with measured ones.`,
    );
  lines.push('', `Prices: ${pricesLine(inputs)}.`);
  lines.push('', '### Measured figures', '', '| figure | value | from |', '|---|---|---|');
  lines.push(
    `| CPU per saga of the always-on process | ${num(measured.cpuMsPerSaga, 2)} ms | \`${measured.cpuSource}.saturation.cpuMsPerSaga.system\` |`,
  );
  lines.push(
    `| saturation of that process (bench machine) | ${num(measured.bullmqThroughputPerSec)} sagas/s | \`${measured.cpuSource}.throughputPerSec\` |`,
  );
  lines.push(
    `| a task's spawn to its first committed delivery | ${measured.taskStartMs === undefined ? '–' : `${int(measured.taskStartMs)} ms`} | \`ecs.taskStartMs\` |`,
  );
  lines.push(
    `| Fargate start delay (RunTask to container start) | ${num(f.startDelayMs.min / 1000)}–${num(f.startDelayMs.max / 1000)} s, uniform | \`ecs.fargate.startDelayMs\` (profile ${f.profile}, time scale ${f.timeScale}) |`,
  );
  lines.push(`| idle grace of the ladder's tasks | ${num(f.idleGraceMs / 1000)} s | \`ecs.fargate.idleGraceMs\` |`);
  lines.push(
    `| task size of the ladder | ${f.taskCpuUnits} CPU units, ${f.taskMemoryMiB} MiB | \`ecs.fargate.taskCpuUnits\`, \`taskMemoryMiB\` |`,
  );
  lines.push(
    `| deliveries per saga (${inputs.style}) | ${Object.entries(measured.mixPerSaga)
      .map(([u, v]) => `${u} ${num(v, 3)}`)
      .join(', ')} | \`ecs.fargate.ladder[].deliveriesByUseCase\` ÷ \`sagas\` |`,
  );
  lines.push('', '### The model against the measured ladder', '');
  lines.push(
    "Each ladder point simulated the way the bench ran it: the same window starting with no task, its idle grace, start delays, its kind of arrivals (Poisson unless the point says otherwise) and what ran in real time on the bench machine stretched by the time scale; averaged over 24 seeds. The bench counts a window's tail (tasks idling out after the last order), and so does the model.",
    '',
  );
  lines.push(...comparisonTable(comparisons));
  lines.push('', `### Monthly cost at a few loads (${inputs.style}, idle grace ${num(inputs.parameters.idleGraceSec)} s)`, '');
  lines.push(
    '| orders/h | (a) RunTask | (b) always-on | (c) hybrid | cheapest | hybrid: use cases always on |',
    '|---|---|---|---|---|---|',
  );
  for (const rate of args.tableRates) {
    const e = grid.reduce((best, x) =>
      Math.abs(Math.log(x.ordersPerHour / rate)) < Math.abs(Math.log(best.ordersPerHour / rate)) ? x : best,
    );
    const always = e.byUseCase.filter((u) => u.hybrid.choice === 'always-on').map((u) => u.useCase);
    lines.push(
      `| ${int(e.ordersPerHour)} | ${usd(e.a.monthlyUsd)} | ${usd(e.b.monthlyUsd)} (${e.b.workers} workers) | ${usd(e.c.monthlyUsd)} | ${e.cheapest} | ${always.join(', ') || 'none'} |`,
    );
  }
  lines.push('', '### Beside compute: image pulls, logs, Container Insights', '');
  lines.push(
    ...besideComputeTable(
      args.tableRates.map((rate) =>
        grid.reduce((best, x) => (Math.abs(Math.log(x.ordersPerHour / rate)) < Math.abs(Math.log(best.ordersPerHour / rate)) ? x : best)),
      ),
      inputs.parameters,
    ),
  );
  lines.push('', '### Deployment choices: architecture, Spot, egress', '');
  lines.push(
    'The same model with one choice changed at a time (monthly totals; the last column is the egress every deployment pays by the hour, left out of the totals).',
    '',
    ...variantsTable(args.variants),
  );
  lines.push('', '### Break-even points', '');
  if (points.length === 0) lines.push(`None between ${int(grid[0]!.ordersPerHour)} and ${int(grid.at(-1)!.ordersPerHour)} orders/h.`);
  else {
    lines.push('| cheaper below | cheaper above | orders/h | monthly cost there |', '|---|---|---|---|');
    for (const p of points) lines.push(`| ${p.cheaperBelow} | ${p.cheaperAbove} | ${int(p.ordersPerHour)} | ${usd(p.monthlyUsd)} |`);
  }
  lines.push('', '### Which is cheapest at which load (these figures)', '', ...recommendation(grid, points));
  lines.push('', '![Monthly cost against orders per hour, with the break-even points](cost-break-even.svg)', '', SECTION_END);
  return lines.join('\n');
}

/** Replaces the generated section of docs/cost.md, or appends it; the rest of the file is left as written. */
export function replaceCostSection(markdown: string, section: string): string {
  const start = markdown.indexOf(SECTION_START);
  const end = markdown.indexOf(SECTION_END);
  if (start === -1 || end === -1 || end < start) return `${markdown.trimEnd()}\n\n${section}\n`;
  return `${markdown.slice(0, start)}${section}${markdown.slice(end + SECTION_END.length)}`;
}
