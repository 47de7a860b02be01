import type { Config } from '../../shared/infrastructure/config/config.js';
import type { Runtime } from '../composition/runtime.js';
import type { Logger } from '../../shared/infrastructure/logging/logger.js';
import { heartbeatLease, idleUnderLease, releaseLease, type TaskLaunch } from '../../shared/infrastructure/messaging/ecs/task-lease.js';
import type { ModuleDatabase } from '../../shared/infrastructure/persistence/module-database.js';
import type { InboxProcessor } from '../../shared/infrastructure/messaging/inbox-processor.js';
import { OutageTolerance } from '../../shared/infrastructure/persistence/outage-tolerance.js';
import { stopRequested } from './stop-signal.js';

/**
 * A use-case task's work once started (use-case-task.ts starts it): heartbeats on its launch's
 * lease, claims with every worker while there is work, waits idle for more, and stops at its
 * maximum runtime, on a stop request or when drained past its idle grace.
 */

export type StopReason = 'drained' | 'time-limit' | 'signal';

/** What a task records of its life on its span: start, first claim, what it processed, how it ended. */
export interface TaskLife {
  event(name: string, attributes?: Record<string, string | number>): void;
  setAttributes(attributes: Record<string, string | number>): void;
  fail(error: unknown): void;
  end(): void;
}

/** Waits at most `ms` (and at most the idle poll) for a sign of new work. */
type IdleWait = (ms: number) => Promise<unknown>;

export async function drain(
  runtime: Runtime,
  useCase: string,
  launch: TaskLaunch,
  config: Config,
  logger: Logger,
  idleWait: IdleWait,
  life: TaskLife,
  startedAt: number,
): Promise<StopReason> {
  const db = runtime.modules[0]!.db;
  const run = new Drain(runtime, { useCase, launch }, config, logger, idleWait, life, startedAt);
  const heartbeat = setInterval(
    () => {
      heartbeatLease(db, useCase, config.LEASE_TTL_MS, launch).catch((error: unknown) =>
        logger.warn({ err: error }, 'lease heartbeat failed'),
      );
    },
    Math.max(1_000, Math.floor(config.LEASE_TTL_MS / 3)),
  );
  heartbeat.unref();
  // Unreachable at start: exit 75 at once (the launcher backs off and launches again), no waiting.
  await heartbeatLease(db, useCase, config.LEASE_TTL_MS, launch);
  life.event('lease heartbeat');
  // Once started, an outage is waited out: what the task claimed rolled back, and it claims again.
  const outage = new OutageTolerance(config.DB_OUTAGE_TOLERANCE_MS, logger, 'the task');
  try {
    for (;;) {
      const reason = await outage.run(() => run.step(db));
      if (reason) return reason;
    }
  } finally {
    clearInterval(heartbeat);
  }
}

/** One task's work on its use case: claim with every worker while there is work, then wait idle for more. */
class Drain {
  processed = 0;
  private readonly deadline: number;
  private readonly inbox: InboxProcessor;
  private stopLogged = false;
  private firstLogged = false;
  private readonly useCase: string;
  /** Its launch: the share of the lease it gives back is that launch's, or the lease row's (run by hand, or by an older release). */
  private readonly launch: TaskLaunch;

  constructor(
    private readonly runtime: Runtime,
    task: { useCase: string; launch: TaskLaunch },
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly idleWait: IdleWait,
    private readonly life: TaskLife,
    /** When the task began its work: its time limit counts from there, across rounds. */
    readonly startedAt: number,
  ) {
    this.useCase = task.useCase;
    this.launch = task.launch;
    this.deadline = this.startedAt + config.TASK_MAX_RUNTIME_MS;
    this.inbox = runtime.inboxOf(task.useCase);
  }

  /**
   * Drains with every worker, relays what they wrote, then waits for more: the reason to stop, or
   * undefined to go round again. Every statement of a round can fail with PostgreSQL away; the
   * round is then run again (nothing of it committed that a new round does not see).
   */
  async step(db: ModuleDatabase): Promise<StopReason | undefined> {
    await this.withEveryWorker();
    await this.runtime.relay.drainAll(this.useCase);
    if (this.stopping() || this.pastDeadline()) {
      await releaseLease(db, this.useCase, this.launch);
      // Work may remain (a Spot interruption or a StopTask in a backlog, the time limit): decide a
      // launch for a successor now rather than leaving it to the sweeper; the lease decides.
      await this.runtime.transport
        .relaunch?.(this.useCase)
        .catch((error: unknown) => this.logger.warn({ err: error }, 'could not decide a successor; the sweeper will'));
      this.life.setAttributes({ 'saga.task.processed': this.processed });
      return this.stopping() ? 'signal' : 'time-limit';
    }
    if ((await this.waitIdle()) !== 'idle') return undefined;
    if (!(await idleUnderLease(db, this.useCase))) return undefined;
    this.logger.info({ processed: this.processed, ms: Date.now() - this.startedAt }, 'drained');
    this.life.setAttributes({ 'saga.task.processed': this.processed });
    return 'drained';
  }

  stopping(): boolean {
    const signal = stopRequested();
    if (signal && !this.stopLogged) {
      this.stopLogged = true;
      this.logger.info({ signal }, 'stop requested: finishing the message in hand');
    }
    return signal !== undefined;
  }

  pastDeadline(): boolean {
    return Date.now() >= this.deadline;
  }

  private shouldStop(): boolean {
    return this.stopping() || this.pastDeadline();
  }

  /** TASK_CONCURRENCY workers claim batches until none is left (or the task must stop). */
  async withEveryWorker(): Promise<void> {
    // Every worker ends before the round does, even when one fails: a round run again must not
    // meet the previous round's workers still claiming.
    const ended = await Promise.allSettled(Array.from({ length: this.config.TASK_CONCURRENCY }, () => this.worker()));
    const failed = ended.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private async worker(): Promise<void> {
    const perRelay = this.config.TASK_BATCH_SIZE;
    while (!this.shouldStop()) {
      const outcomes = await this.inbox.processNextBatch(this.useCase, this.config.DELIVERY_BATCH_SIZE);
      if (outcomes.length === 0) return;
      const before = this.processed;
      this.processed += outcomes.length;
      if (!this.firstLogged && outcomes.includes('done')) {
        this.firstLogged = true;
        // Spawn to first committed delivery: what a cold task costs before it does useful work.
        const sinceSpawnMs = Math.round(process.uptime() * 1000);
        this.logger.info({ sinceSpawnMs }, 'first delivery committed');
        this.life.event('first delivery committed', { 'saga.task.since_spawn_ms': sinceSpawnMs });
      }
      if (Math.floor(this.processed / perRelay) > Math.floor(before / perRelay)) await this.runtime.relay.drainAll(this.useCase);
    }
  }

  /**
   * Waits up to TASK_IDLE_GRACE_MS for new work, handling what arrives one batch at a time.
   * `backlog`: a full batch came, so more may be waiting (drain with every worker); `stop`: the
   * task must stop; `idle`: the grace passed with nothing new.
   */
  async waitIdle(): Promise<'backlog' | 'stop' | 'idle'> {
    const grace = this.config.TASK_IDLE_GRACE_MS;
    let idleUntil = Date.now() + grace;
    while (!this.shouldStop() && Date.now() < idleUntil) {
      // The next hop of a saga often lands within milliseconds of the last one: the relay that
      // commits it NOTIFYs, which ends this wait at once; the poll covers lost notifications.
      await this.idleWait(Math.min(idleUntil, this.deadline) - Date.now());
      if (this.shouldStop()) break;
      const outcomes = await this.inbox.processNextBatch(this.useCase, this.config.DELIVERY_BATCH_SIZE);
      if (outcomes.length === 0) continue;
      this.processed += outcomes.length;
      await this.runtime.relay.drainAll(this.useCase);
      // A full batch: more may be waiting. Less: that was all of it, and the task keeps waiting
      // here (the grace starts again) without a round of empty claims.
      if (outcomes.length >= this.config.DELIVERY_BATCH_SIZE) return 'backlog';
      idleUntil = Date.now() + grace;
    }
    return this.shouldStop() ? 'stop' : 'idle';
  }
}
