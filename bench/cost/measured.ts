import { z } from 'zod';

/**
 * The figures the cost model takes from a bench run (bench/results/latest.json): the Fargate
 * ladder of `ecs.fargate` (durations in Fargate time, i.e. already multiplied by its timeScale)
 * and the always-on process's CPU per saga. Only what the model reads is checked; the rest of
 * the file is left alone.
 */

export type Style = 'choreography' | 'orchestration';

const finite = z.number().finite();
const count = z.number().int().min(0);
const perUseCase = z.record(z.string(), count);

const ladderPointSchema = z.object({
  ordersPerHour: finite.positive(),
  style: z.enum(['choreography', 'orchestration']),
  windowSec: finite.positive(),
  sagas: count,
  messages: count,
  deliveriesByUseCase: perUseCase,
  runTaskCalls: count,
  tasksLaunched: count,
  tasksByUseCase: perUseCase,
  taskSeconds: finite.min(0),
  billedTaskSeconds: finite.min(0),
  taskSecondsPerSaga: finite.min(0),
  billedTaskMinutesPer1000Sagas: finite.min(0),
  latencyMs: z.object({ p50: finite, p99: finite }),
  /** How the orders were sent; the bench's open loop sends one every 1/rate (periodic) unless it says otherwise. */
  arrivals: z.enum(['poisson', 'periodic']).optional(),
});

const fargateSchema = z.object({
  profile: z.literal('fargate'),
  timeScale: finite.positive(),
  startDelayMs: z.object({ min: finite.min(0), max: finite.min(0) }).refine((d) => d.min <= d.max, 'startDelayMs.min must not exceed max'),
  idleGraceMs: finite.min(0),
  /** TASK_MAX_RUNTIME_MS of the run in Fargate time, when the bench records it. */
  taskMaxRuntimeMs: finite.positive().optional(),
  taskCpuUnits: finite.positive(),
  taskMemoryMiB: finite.positive(),
  /** When and how the ladder was measured, when it says so (it may be merged into an older results file). */
  generatedAt: z.string().optional(),
  command: z.string().optional(),
  mode: z.string().optional(),
  ladder: z.array(ladderPointSchema).min(1),
});

const styleRunSchema = z.object({
  throughputPerSec: finite,
  saturation: z.object({ cpuMsPerSaga: z.object({ system: finite.positive() }) }),
});

const resultsSchema = z.object({
  generatedAt: z.string(),
  command: z.string(),
  mode: z.string(),
  /** Set only in hand-made inputs (the test fixture): what they are, printed wherever their figures appear. */
  fixture: z.string().optional(),
  saga: z.object({ bullmq: z.record(z.string(), styleRunSchema.nullable()).nullable().optional() }),
  ecs: z.object({ taskStartMs: finite.optional(), fargate: fargateSchema.optional() }).nullable(),
});

export type FargateLadderPoint = z.infer<typeof ladderPointSchema>;
export type FargateMeasurement = z.infer<typeof fargateSchema>;

export interface MeasuredInputs {
  readonly style: Style;
  readonly fargate: FargateMeasurement;
  /** The ladder points of this style. */
  readonly ladder: readonly FargateLadderPoint[];
  /** Deliveries per decided saga, per use case, over the whole ladder of this style. */
  readonly mixPerSaga: Readonly<Record<string, number>>;
  /** CPU ms per saga of the always-on process (`saga.bullmq.<style>.saturation.cpuMsPerSaga.system`). */
  readonly cpuMsPerSaga: number;
  /** Which run it came from: `saga.bullmq.<style>`, or choreography's when the style was not run. */
  readonly cpuSource: string;
  readonly bullmqThroughputPerSec: number;
  /** A task's spawn to its first committed delivery (`ecs.taskStartMs`), real time. */
  readonly taskStartMs: number | undefined;
  readonly provenance: {
    readonly generatedAt: string;
    readonly command: string;
    readonly mode: string;
    readonly fixture: string | undefined;
    /** The ladder's own run, when it records one. */
    readonly ladder?: { readonly generatedAt: string; readonly command: string; readonly mode: string };
  };
}

/** The results file cannot feed the model; the message says which command produces what is missing. */
export class MissingMeasurementError extends Error {
  override readonly name = 'MissingMeasurementError';
}

/** Reads what the model needs from a parsed results file, or says what is missing and how to measure it. */
export function measuredInputs(results: unknown, style: Style, file: string): MeasuredInputs {
  const parsed = resultsSchema.safeParse(results);
  if (!parsed.success) {
    throw new MissingMeasurementError(
      `${file} is not a bench results file the cost model can read (${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}); \`npm run bench\` writes one.`,
    );
  }
  const r = parsed.data;
  const fargate = r.ecs?.fargate;
  if (!fargate) {
    throw new MissingMeasurementError(
      `${file} has no ecs.fargate section (the Fargate ladder the cost model starts from): run the ladder with \`npm run bench -- --only=fargate\` (or a full \`npm run bench\`), then run this command again.`,
    );
  }
  const ladder = fargate.ladder.filter((p) => p.style === style);
  const sagas = ladder.reduce((s, p) => s + p.sagas, 0);
  if (sagas === 0) {
    throw new MissingMeasurementError(
      `${file}: the Fargate ladder has no decided saga in ${style} (run \`npm run bench\` with that style, or choose --style ${style === 'choreography' ? 'orchestration' : 'choreography'}).`,
    );
  }
  const cpuRun = r.saga.bullmq?.[style] ?? r.saga.bullmq?.['choreography'];
  if (!cpuRun) {
    throw new MissingMeasurementError(
      `${file} has no saga.bullmq run to take the always-on CPU per saga from: run \`npm run bench\` (with the bullmq adapter).`,
    );
  }
  return {
    style,
    fargate,
    ladder,
    mixPerSaga: mixOf(ladder, sagas),
    cpuMsPerSaga: cpuRun.saturation.cpuMsPerSaga.system,
    cpuSource: r.saga.bullmq?.[style] ? `saga.bullmq.${style}` : 'saga.bullmq.choreography',
    bullmqThroughputPerSec: cpuRun.throughputPerSec,
    taskStartMs: r.ecs?.taskStartMs,
    provenance: {
      generatedAt: r.generatedAt,
      command: r.command,
      mode: r.mode,
      fixture: r.fixture,
      ...(fargate.generatedAt && fargate.command
        ? { ladder: { generatedAt: fargate.generatedAt, command: fargate.command, mode: fargate.mode ?? r.mode } }
        : {}),
    },
  };
}

function mixOf(ladder: readonly FargateLadderPoint[], sagas: number): Record<string, number> {
  const deliveries: Record<string, number> = {};
  for (const point of ladder) {
    for (const [useCase, n] of Object.entries(point.deliveriesByUseCase)) deliveries[useCase] = (deliveries[useCase] ?? 0) + n;
  }
  return Object.fromEntries(Object.entries(deliveries).map(([u, n]) => [u, n / sagas]));
}
