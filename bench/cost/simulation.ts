/**
 * The discrete-event simulation behind the cost model: one use case's deliveries meet the tasks
 * the launcher starts for them (src/shared/infrastructure/messaging/ecs/ecs-launcher.ts) and the
 * task runner's lifecycle (src/entrypoints/tasks/use-case-task.ts). Pure and deterministic: all
 * randomness comes from seeded generators passed in.
 */

/** Uniform numbers in [0, 1) from a 32-bit seed (mulberry32): small, fast, and the same on every machine. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * A generator per named stream (FNV-1a of seed and name): the arrivals, the cold starts and the
 * idle-task picks of a use case each draw from their own stream, so changing the load changes the
 * arrival times and not the cold starts (common random numbers keep the cost curves smooth).
 */
export function stream(seed: number, name: string): () => number {
  let hash = 0x811c9dc5;
  for (const ch of `${seed}:${name}`) {
    hash ^= ch.charCodeAt(0);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return seededRandom(hash);
}

/** Deliveries of one use case, sorted by time (seconds), each with the arrival time of the order it belongs to. */
export interface Flow {
  readonly time: Float64Array;
  readonly origin: Float64Array;
}

export type ArrivalProcess = 'poisson' | 'periodic';

/**
 * Independent arrivals at `ratePerSec` over [0, horizonSec): Poisson (exponential gaps drawn by
 * inversion, so the same stream at another rate gives the same instants scaled), or periodic, one
 * every 1/rate seconds from 0, as the bench's open loop sends its orders (bench/lib/load.ts).
 */
export function independentFlow(ratePerSec: number, horizonSec: number, process: ArrivalProcess, random: () => number): Flow {
  const times: number[] = [];
  if (ratePerSec > 0) {
    if (process === 'periodic') {
      for (let i = 0; i / ratePerSec < horizonSec; i++) times.push(i / ratePerSec);
    } else {
      for (let t = -Math.log(1 - random()) / ratePerSec; t < horizonSec; t += -Math.log(1 - random()) / ratePerSec) times.push(t);
    }
  }
  const time = Float64Array.from(times);
  return { time, origin: Float64Array.from(times) };
}

/** The same deliveries `delaySec` later (the API's relay between an order and its first delivery). */
export function delayFlow(flow: Flow, delaySec: number): Flow {
  return { time: flow.time.map((t) => t + delaySec), origin: flow.origin };
}

/** Keeps each delivery of `flow` with probability `share` (what a downstream use case receives of an upstream's output), `delaySec` later. */
export function thinFlow(flow: Flow, share: number, delaySec: number, random: () => number): Flow {
  const time: number[] = [];
  const origin: number[] = [];
  for (let i = 0; i < flow.time.length; i++) {
    if (share >= 1 || random() < share) {
      time.push(flow.time[i]! + delaySec);
      origin.push(flow.origin[i]!);
    }
  }
  return { time: Float64Array.from(time), origin: Float64Array.from(origin) };
}

/** Two sorted flows as one sorted flow. */
export function mergeFlows(a: Flow, b: Flow): Flow {
  const n = a.time.length + b.time.length;
  const time = new Float64Array(n);
  const origin = new Float64Array(n);
  let i = 0;
  let j = 0;
  for (let k = 0; k < n; k++) {
    if (j >= b.time.length || (i < a.time.length && a.time[i]! <= b.time[j]!)) {
      time[k] = a.time[i]!;
      origin[k] = a.origin[i++]!;
    } else {
      time[k] = b.time[j]!;
      origin[k] = b.origin[j++]!;
    }
  }
  return { time, origin };
}

/** What one use case's tasks do, in seconds (Fargate time). */
export interface TaskBehaviour {
  /** TASK_IDLE_GRACE_MS: a task exits after this long without work. */
  readonly idleGraceSec: number;
  /** TASK_MAX_RUNTIME_MS: a task exits this long after it started, and decides a successor if work is waiting. */
  readonly maxRuntimeSec: number;
  /** RunTask to the container's start (provisioning, image pull), uniform between min and max. */
  readonly startDelaySec: { readonly min: number; readonly max: number };
  /** The container's start to its first claim (node, configuration, connections). */
  readonly processStartSec: number;
  /** The task's exit to its end of billing. */
  readonly stopOverheadSec: number;
  /** Share of the start delay that Fargate bills (billing starts with the image pull). */
  readonly billedStartShare: number;
  /** ECS_SCALE_OUT_BACKLOG: one more task per this many pending deliveries. */
  readonly scaleOutBacklog: number;
  /** ECS_MAX_TASKS_PER_USE_CASE. */
  readonly maxTasksPerUseCase: number;
  /** One delivery's share of a task's capacity: 1 / deliveries per second. */
  readonly serviceSec: number;
  /** The Fargate minimum: a task is billed at least this long. */
  readonly minimumBilledSec: number;
}

export interface UseCaseRun {
  readonly deliveries: number;
  readonly tasksLaunched: number;
  /** Σ launch → stop of the launched tasks (what the bench calls taskSeconds). */
  readonly taskSeconds: number;
  /** Σ max(minimum, ceil(billed lifetime)) of the launched tasks. */
  readonly billedSeconds: number;
  /** Deliveries that arrived while no task of the use case was running: they waited for a start. */
  readonly waitedForStart: number;
  /** When each delivery was done, sorted, with its order's arrival time. */
  readonly done: Flow;
}

type State = 'starting' | 'idle' | 'busy' | 'stopping' | 'stopped';

interface SimTask {
  readonly launchAt: number;
  readonly startDelay: number;
  readonly readyAt: number;
  readonly resident: boolean;
  state: State;
  idleSince: number;
  idleCheckPending: boolean;
  delivery: number;
}

type Kind = 'ready' | 'done' | 'idle-check' | 'deadline';

interface SimEvent {
  readonly time: number;
  readonly seq: number;
  readonly kind: Kind;
  readonly task: SimTask;
}

/** A binary min-heap of events by time, then by insertion order (equal times run in the order they were scheduled). */
class EventQueue {
  private readonly heap: SimEvent[] = [];
  private seq = 0;

  push(time: number, kind: Kind, task: SimTask): void {
    const heap = this.heap;
    heap.push({ time, seq: this.seq++, kind, task });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  nextTime(): number {
    return this.heap[0]?.time ?? Number.POSITIVE_INFINITY;
  }

  pop(): SimEvent {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

/**
 * Runs one use case's deliveries through its tasks and returns what they cost in task time.
 *
 * - A delivery is taken at once by an idle running task (NOTIFY wakes it; several idle tasks race
 *   and one wins at random), else it waits in the backlog (FIFO).
 * - After each delivery the launcher decides, as `EcsLauncher.decide` does: wanted =
 *   min(max per use case, ceil(backlog / scale-out backlog)); it launches wanted − live tasks
 *   (starting ones count as live), at most 10 per call.
 * - A launched task runs after its start delay and process start, takes deliveries one at a time
 *   (`serviceSec` each), exits after the idle grace without work, or at its maximum runtime once
 *   the delivery in hand is done (then the launcher decides again for the backlog it leaves).
 * - With `resident`, one task runs from time 0 and never exits (an ECS service's task); it is not
 *   counted in the launched tasks' figures, and bursts beyond it launch tasks as above.
 *
 * Arrivals are taken over [0, their last); tasks then run to their natural end, so a short window
 * counts its tail as the bench does.
 */
export function simulateUseCase(
  flow: Flow,
  behaviour: TaskBehaviour,
  coldStarts: () => number,
  picks: () => number,
  resident = false,
): UseCaseRun {
  const b = behaviour;
  const n = flow.time.length;
  const done = new Float64Array(n);
  const events = new EventQueue();
  const live: SimTask[] = [];
  let next = 0;
  let head = 0;
  let tasksLaunched = 0;
  let taskSeconds = 0;
  let billedSeconds = 0;
  let waitedForStart = 0;

  const serve = (task: SimTask, now: number): void => {
    task.state = 'busy';
    task.delivery = head++;
    events.push(now + b.serviceSec, 'done', task);
  };
  const idle = (task: SimTask, now: number): void => {
    task.state = 'idle';
    task.idleSince = now;
    if (!task.resident && !task.idleCheckPending) {
      task.idleCheckPending = true;
      events.push(now + b.idleGraceSec, 'idle-check', task);
    }
  };
  const stop = (task: SimTask, now: number): void => {
    task.state = 'stopped';
    live.splice(live.indexOf(task), 1);
    const lifetime = now + b.stopOverheadSec - task.launchAt;
    taskSeconds += lifetime;
    billedSeconds += Math.max(b.minimumBilledSec, Math.ceil(lifetime - (1 - b.billedStartShare) * task.startDelay - 1e-9));
  };
  const launch = (now: number): void => {
    const startDelay = b.startDelaySec.min + (b.startDelaySec.max - b.startDelaySec.min) * coldStarts();
    const task: SimTask = {
      launchAt: now,
      startDelay,
      readyAt: now + startDelay + b.processStartSec,
      resident: false,
      state: 'starting',
      idleSince: 0,
      idleCheckPending: false,
      delivery: -1,
    };
    live.push(task);
    tasksLaunched++;
    events.push(task.readyAt, 'ready', task);
  };
  const decide = (now: number): void => {
    const backlog = next - head;
    if (backlog === 0) return;
    const wanted = Math.min(b.maxTasksPerUseCase, Math.ceil(backlog / b.scaleOutBacklog));
    const count = Math.min(10, wanted - live.length);
    for (let i = 0; i < count; i++) launch(now);
  };

  if (resident) {
    const task: SimTask = {
      launchAt: 0,
      startDelay: 0,
      readyAt: 0,
      resident: true,
      state: 'idle',
      idleSince: 0,
      idleCheckPending: false,
      delivery: -1,
    };
    live.push(task);
  }

  for (;;) {
    const arrival = next < n ? flow.time[next]! : Number.POSITIVE_INFINITY;
    const eventTime = events.nextTime();
    if (arrival === Number.POSITIVE_INFINITY && eventTime === Number.POSITIVE_INFINITY) break;
    if (arrival <= eventTime) {
      next++;
      let idleCount = 0;
      let running = false;
      for (const t of live) {
        if (t.state === 'idle') idleCount++;
        if (t.state !== 'starting') running = true;
      }
      if (!running) waitedForStart++;
      if (idleCount > 0) {
        let pick = Math.floor(picks() * idleCount);
        const task = live.find((t) => t.state === 'idle' && pick-- === 0)!;
        serve(task, arrival);
      }
      decide(arrival);
      continue;
    }
    const { time: now, kind, task } = events.pop();
    switch (kind) {
      case 'ready':
        if (!task.resident) events.push(now + b.maxRuntimeSec, 'deadline', task);
        if (head < next) serve(task, now);
        else idle(task, now);
        break;
      case 'done':
        done[task.delivery] = now;
        if (task.state === 'stopping') {
          stop(task, now);
          decide(now);
        } else if (head < next) serve(task, now);
        else idle(task, now);
        break;
      case 'idle-check':
        task.idleCheckPending = false;
        if (task.state !== 'idle') break;
        if (task.idleSince + b.idleGraceSec <= now + 1e-9) stop(task, now);
        else {
          task.idleCheckPending = true;
          events.push(task.idleSince + b.idleGraceSec, 'idle-check', task);
        }
        break;
      case 'deadline':
        if (task.state === 'busy') task.state = 'stopping';
        else if (task.state === 'idle') stop(task, now);
        break;
    }
  }
  return { deliveries: n, tasksLaunched, taskSeconds, billedSeconds, waitedForStart, done: sortedDone(done, flow.origin) };
}

/** Completion times in time order with their origins; nearly sorted already (FIFO), so insertion sort is linear in practice. */
function sortedDone(done: Float64Array, origin: Float64Array): Flow {
  const order = Array.from({ length: done.length }, (_, i) => i);
  for (let i = 1; i < order.length; i++) {
    const k = order[i]!;
    let j = i - 1;
    while (j >= 0 && done[order[j]!]! > done[k]!) {
      order[j + 1] = order[j]!;
      j--;
    }
    order[j + 1] = k;
  }
  return { time: Float64Array.from(order, (i) => done[i]!), origin: Float64Array.from(order, (i) => origin[i]!) };
}
