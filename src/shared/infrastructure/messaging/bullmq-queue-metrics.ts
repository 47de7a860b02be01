import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../logging/logger.js';

export interface QueueDepthOptions {
  readonly registry: Registry;
  readonly redisUrl: string;
  readonly prefix: string;
  /** The use cases whose queues to count (one queue each, as BullMqTransport names them). */
  readonly useCases: readonly string[];
  readonly logger: Logger;
}

/** The job states a BullMQ queue depth is read in. */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized'] as const;
const COUNT_TIMEOUT_MS = 2_000;

interface CountingQueue {
  getJobCounts(...states: string[]): Promise<Record<string, number>>;
  close(): Promise<void>;
}

/**
 * BullMQ queue depth per use case and state (EVENT_BUS=bullmq), read at scrape time: a job is only
 * a wake-up signal, so a deep queue with few pending deliveries means signals outrun the workers,
 * not lost work. Loaded on demand, like the transport's driver.
 */
export class QueueDepthMetrics {
  private queues: ReadonlyArray<{ readonly useCase: string; readonly queue: CountingQueue }> = [];
  private disconnect: () => void = () => undefined;

  private constructor(private readonly options: QueueDepthOptions) {
    const depth = new Gauge({
      name: 'saga_bullmq_jobs',
      help: 'BullMQ jobs by use case and state (waiting, active, delayed, prioritized)',
      labelNames: ['use_case', 'state'] as const,
      registers: [options.registry],
      collect: async () => {
        depth.reset();
        for (const [useCase, counts] of await this.counts()) {
          for (const state of QUEUE_STATES) depth.set({ use_case: useCase, state }, counts[state] ?? 0);
        }
      },
    });
  }

  static async create(options: QueueDepthOptions): Promise<QueueDepthMetrics> {
    const metrics = new QueueDepthMetrics(options);
    const [{ Queue }, { Redis }, { queueNameOf }] = await Promise.all([
      import('bullmq'),
      import('ioredis'),
      import('./bullmq-transport.js'),
    ]);
    const connection = new Redis(options.redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
    connection.on('error', (error) => options.logger.warn({ err: error }, 'metrics redis connection error'));
    metrics.queues = options.useCases.map((useCase) => ({
      useCase,
      queue: new Queue(queueNameOf(useCase), { connection, prefix: options.prefix }),
    }));
    metrics.disconnect = () => connection.disconnect();
    return metrics;
  }

  /** Each queue's counts; a queue Redis does not answer for within 2 s is left out (no stale depth). */
  private async counts(): Promise<Array<[string, Record<string, number>]>> {
    const settled = await Promise.allSettled(
      this.queues.map(async ({ useCase, queue }) => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${COUNT_TIMEOUT_MS} ms`)), COUNT_TIMEOUT_MS);
        });
        try {
          return [useCase, await Promise.race([queue.getJobCounts(...QUEUE_STATES), timeout])] as [string, Record<string, number>];
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) this.options.logger.warn({ err: failed.reason }, 'metrics: reading BullMQ queue depth failed');
    return settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.queues.map((q) => q.queue.close()));
    this.disconnect();
  }
}
