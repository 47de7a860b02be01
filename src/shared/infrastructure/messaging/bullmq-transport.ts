import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';
import type { Delivery } from './subscription.js';
import { batchesOf, type DeliveryDispatcher, type DeliveryTransport, type InspectableQueues, type ReadinessCheck } from './transport.js';

export interface BullMqOptions {
  readonly redisUrl: string;
  readonly prefix: string;
  readonly concurrency: number;
  /** Deliveries of one use case carried by one job (and handled in one transaction). */
  readonly batchSize?: number;
  /** Short locks so a killed worker's jobs run again within seconds, not a minute. */
  readonly lockDurationMs?: number;
  readonly stalledIntervalMs?: number;
}

/** `messageIds`: the deliveries this job signals. `messageId`: the one-delivery shape of earlier versions, still accepted. */
interface DeliveryJob {
  readonly messageIds?: readonly string[];
  readonly messageId?: string;
}

function idsOf(job: DeliveryJob): string[] {
  if (Array.isArray(job.messageIds)) return job.messageIds.filter((id): id is string => typeof id === 'string');
  return typeof job.messageId === 'string' ? [job.messageId] : [];
}

const SIGNAL_TIMEOUT_MS = 2_000;

async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  // If the timeout wins, a later rejection of `work` must not become an unhandled rejection.
  work.catch(() => undefined);
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The (first) message id, so a signal repeated while its job waits is a no-op. A redelivery gets
 * an id of its own: a job record that outlived its queue (a partial Redis loss) must not swallow it.
 */
function jobIdOf(messageIds: readonly string[], redelivery: boolean): string {
  const id = messageIds.length === 1 ? messageIds[0]! : `${messageIds[0]!}-b${messageIds.length}`;
  return redelivery ? `${id}-r${Date.now().toString(36)}` : id;
}

/** BullMQ queue names may not contain ':'; use-case ids never do. */
export function queueNameOf(useCase: string): string {
  return useCase;
}

/**
 * One queue per subscribing use case; a job carries up to `batchSize` deliveries signalled
 * together (the worker handles them in one transaction) and its id is derived from the message
 * ids, so a signal repeated while its job waits is a no-op. BullMQ's own retries are off: attempts, backoff and dead letters
 * are rows in PostgreSQL, and a job lost with Redis is signalled again by the sweeper.
 */
export class BullMqTransport implements DeliveryTransport {
  readonly name = 'bullmq' as const;
  readonly launchesTasks = false;
  private readonly queues = new Map<string, Queue<DeliveryJob>>();
  private readonly workers: Worker<DeliveryJob>[] = [];
  private readonly connection: Redis;
  private readonly workerConnections: Redis[] = [];

  constructor(
    private readonly options: BullMqOptions,
    private readonly logger: Logger,
  ) {
    this.connection = this.newConnection();
  }

  private newConnection(): Redis {
    const redis = new Redis(this.options.redisUrl, { maxRetriesPerRequest: null, enableOfflineQueue: true });
    redis.on('error', (error) => this.logger.warn({ err: error }, 'redis connection error'));
    return redis;
  }

  private queue(useCase: string): Queue<DeliveryJob> {
    let queue = this.queues.get(useCase);
    if (!queue) {
      queue = new Queue<DeliveryJob>(queueNameOf(useCase), {
        connection: this.connection,
        prefix: this.options.prefix,
        // A job is dropped whatever its end: a kept job (even failed) would make the sweeper's next
        // signal for its delivery, which reuses the message id as job id, a silent no-op.
        defaultJobOptions: { attempts: 1, removeOnComplete: true, removeOnFail: true },
      });
      queue.on('error', (error) => this.logger.warn({ err: error, useCase }, 'bullmq queue error'));
      this.queues.set(useCase, queue);
    }
    return queue;
  }

  async startConsumers(dispatcher: DeliveryDispatcher): Promise<void> {
    for (const useCase of dispatcher.useCases()) {
      const connection = this.newConnection();
      this.workerConnections.push(connection);
      const worker = new Worker<DeliveryJob>(
        queueNameOf(useCase),
        async (job: Job<DeliveryJob>) => {
          const ids = idsOf(job.data);
          // A job without ids is not ours to interpret; its deliveries (if any) are signalled again by the sweeper.
          if (ids.length === 0) this.logger.warn({ useCase, jobId: job.id }, 'bullmq job without message ids ignored');
          else await dispatcher.process(useCase, ids);
        },
        {
          connection,
          prefix: this.options.prefix,
          concurrency: this.options.concurrency,
          lockDuration: this.options.lockDurationMs ?? 10_000,
          stalledInterval: this.options.stalledIntervalMs ?? 5_000,
          maxStalledCount: 1_000,
          // After a Redis outage BullMQ waits this long before fetching jobs again (15 s by default):
          // once Redis is back, the deliveries the sweeper signals again should run within a second.
          runRetryDelay: 1_000,
        },
      );
      worker.on('error', (error) => this.logger.warn({ err: error, useCase }, 'bullmq worker error'));
      worker.on('failed', (job, error) => this.logger.error({ err: error, useCase, jobId: job?.id }, 'bullmq job failed'));
      this.workers.push(worker);
    }
    await Promise.all(this.workers.map((w) => w.waitUntilReady()));
  }

  async signal(deliveries: readonly Delivery[], options: { readonly redelivery?: boolean } = {}): Promise<void> {
    const byUseCase = new Map<string, Array<{ name: string; data: DeliveryJob; opts: { jobId: string } }>>();
    for (const { useCase, messageIds } of batchesOf(deliveries, this.options.batchSize ?? 1)) {
      const jobs = byUseCase.get(useCase) ?? [];
      // `messageId` too for one delivery: workers of the previous version read only that field.
      const data: DeliveryJob = messageIds.length === 1 ? { messageIds, messageId: messageIds[0]! } : { messageIds };
      jobs.push({ name: 'delivery', data, opts: { jobId: jobIdOf(messageIds, options.redelivery === true) } });
      byUseCase.set(useCase, jobs);
    }
    const added = Promise.all([...byUseCase].map(([useCase, jobs]) => this.queue(useCase).addBulk(jobs)));
    // With Redis down, ioredis queues commands forever; a relay must not wait on a wake-up signal.
    await withTimeout(added, SIGNAL_TIMEOUT_MS, 'signalling BullMQ');
  }

  get inspectableQueues(): InspectableQueues {
    return { redisUrl: this.options.redisUrl, prefix: this.options.prefix };
  }

  readiness(): readonly ReadinessCheck[] {
    return [{ name: 'redis', check: () => this.ping() }];
  }

  async ping(): Promise<void> {
    await withTimeout(this.connection.ping(), SIGNAL_TIMEOUT_MS, 'pinging Redis');
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.workers.map((w) => w.close()));
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
    // QUIT waits behind the commands queued while Redis was unreachable, forever if it stays so.
    await Promise.allSettled([this.connection, ...this.workerConnections].map((c) => (c.status === 'ready' ? c.quit() : c.disconnect())));
  }
}
