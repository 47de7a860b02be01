import type { ScheduledJob } from '../../shared/infrastructure/composition/module-definition.js';
import type { Logger } from '../../shared/infrastructure/logging/logger.js';

/**
 * Runs periodic jobs (the sweeper, purges, the modules' deadlines): on timers in a long-lived
 * process, each job never overlapping itself, or all once in a row (the sweeper task). A failed
 * run is logged and the next one tries again.
 */
export class JobScheduler {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    readonly jobs: readonly ScheduledJob[],
    private readonly logger: Logger,
  ) {}

  start(): void {
    for (const job of this.jobs) {
      let busy = false;
      const timer = setInterval(() => {
        if (busy) return;
        busy = true;
        const run = job
          .run()
          .catch((error: unknown) => this.logger.error({ err: error, job: job.name }, 'job failed'))
          .finally(() => {
            busy = false;
            this.running.delete(run);
          });
        this.running.add(run);
      }, job.intervalMs);
      timer.unref();
      this.timers.push(timer);
    }
  }

  /** Every job once, in order; a failed job does not stop the others. Returns the failures. */
  async runOnce(): Promise<Array<{ readonly job: string; readonly error: unknown }>> {
    const failures: Array<{ job: string; error: unknown }> = [];
    for (const job of this.jobs) {
      try {
        await job.run();
      } catch (error) {
        this.logger.error({ err: error, job: job.name }, 'job failed');
        failures.push({ job: job.name, error });
      }
    }
    return failures;
  }

  /** No new runs; waits for the ones in flight. */
  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
    await Promise.allSettled([...this.running]);
  }
}
