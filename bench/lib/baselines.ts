import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { median, round } from './stats.js';

export interface SagaStepBaseline {
  readonly tps: number;
  readonly meanLatencyMs: number;
  readonly transactions: number;
  readonly poolSize: number;
}

const CUSTOMERS = 1_000;

/**
 * One saga step written by hand through `pg`, the driver the system uses: in one transaction,
 * insert a delivery row, lock a balance row, update it, insert an outbox row, commit. Run on the
 * module's real tables (same columns and indexes) by `poolSize` concurrent clients, each on a
 * random one of many balance rows so that no row is the bottleneck.
 */
export async function measureSagaStep(
  databaseUrl: string,
  poolSize: number,
  warmupMs: number,
  durationMs: number,
): Promise<SagaStepBaseline> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: poolSize, application_name: 'bench:baseline' });
  pool.on('error', () => undefined);
  try {
    const ids = Array.from({ length: CUSTOMERS }, () => randomUUID());
    await pool.query(
      `insert into customers.customers (id, name, currency, credit_limit, available_credit, version, created_at, updated_at)
       select id, 'baseline', 'USD', 1000000000000, 1000000000000, 1, now(), now() from unnest($1::uuid[]) as id`,
      [ids],
    );
    const start = Date.now();
    const measureFrom = start + warmupMs;
    const end = measureFrom + durationMs;
    let transactions = 0;
    let latencyTotal = 0;
    const step = async (): Promise<void> => {
      const customerId = ids[Math.floor(Math.random() * ids.length)]!;
      const messageId = randomUUID();
      const envelope = {
        id: messageId,
        type: 'order.created.v1',
        occurredAt: new Date().toISOString(),
        correlationId: messageId,
        causationId: null,
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        payload: { orderId: messageId, customerId, total: { amount: 100, currency: 'USD' } },
      };
      const client = await pool.connect();
      try {
        await client.query('begin');
        await client.query(
          `insert into customers.inbox (use_case, message_id, type, correlation_id, envelope) values ($1, $2, $3, $4, $5)`,
          ['customer.reserve-credit', messageId, envelope.type, messageId, envelope],
        );
        const { rows } = await client.query<{ available_credit: string }>(
          'select available_credit from customers.customers where id = $1 for update',
          [customerId],
        );
        await client.query(
          'update customers.customers set available_credit = $2, version = version + 1, updated_at = now() where id = $1',
          [customerId, Number(rows[0]!.available_credit) - 100],
        );
        await client.query(
          `insert into customers.outbox (id, type, correlation_id, causation_id, traceparent, occurred_at, payload, produced_by)
           values ($1, $2, $3, $4, $5, $6, $7, $8)`,
          [
            randomUUID(),
            'customer.credit-reserved.v1',
            messageId,
            messageId,
            envelope.traceparent,
            new Date(),
            envelope.payload,
            'customer.reserve-credit',
          ],
        );
        await client.query('commit');
      } catch (error) {
        await client.query('rollback').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    };
    const worker = async (): Promise<void> => {
      while (Date.now() < end) {
        const t0 = performance.now();
        await step();
        const now = Date.now();
        if (now >= measureFrom && now < end) {
          transactions++;
          latencyTotal += performance.now() - t0;
        }
      }
    };
    await Promise.all(Array.from({ length: poolSize }, worker));
    return { tps: round(transactions / (durationMs / 1000)), meanLatencyMs: round(latencyTotal / transactions, 2), transactions, poolSize };
  } finally {
    await pool.end();
  }
}

export interface BullMqBaseline {
  readonly jobsPerSec: number;
  readonly addOnlyPerSec: number;
  readonly jobs: number;
  readonly concurrency: number;
}

/**
 * Raw BullMQ: `jobs` no-op jobs added in bulk (as the relay does) while one worker with the
 * system's concurrency processes them; jobs/s from the first add to the last completion.
 */
export async function measureBullMq(
  redisUrl: string,
  prefix: string,
  jobs: number,
  concurrency: number,
  timeoutMs: number,
): Promise<BullMqBaseline> {
  const name = 'baseline';
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const workerConnection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(name, { connection, prefix, defaultJobOptions: { attempts: 1, removeOnComplete: true, removeOnFail: 1000 } });
  let done = 0;
  let finished: () => void = () => undefined;
  const allDone = new Promise<void>((resolve) => (finished = resolve));
  const worker = new Worker(
    name,
    async () => {
      if (++done === jobs) finished();
    },
    { connection: workerConnection, prefix, concurrency },
  );
  try {
    await worker.waitUntilReady();
    const t0 = performance.now();
    const chunk = 200;
    for (let i = 0; i < jobs; i += chunk) {
      await queue.addBulk(
        Array.from({ length: Math.min(chunk, jobs - i) }, (_, k) => ({
          name: 'job',
          data: { messageId: randomUUID() },
          opts: { jobId: `j-${i + k}` },
        })),
      );
    }
    const added = performance.now() - t0;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`raw BullMQ: ${done} of ${jobs} jobs processed within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([allDone, timedOut]);
    } finally {
      clearTimeout(timer);
    }
    const elapsed = performance.now() - t0;
    return { jobsPerSec: round(jobs / (elapsed / 1000)), addOnlyPerSec: round(jobs / (added / 1000)), jobs, concurrency };
  } finally {
    await worker.close();
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    await Promise.allSettled([connection.quit(), workerConnection.quit()]);
  }
}

/** Median wall time of `node -e 0`: the floor under any process start (an ECS task's, too). */
export function measureNodeStart(runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const result = spawnSync(process.execPath, ['-e', '0'], { stdio: 'ignore', timeout: 10_000 });
    if (result.status !== 0) throw new Error(`node -e 0 exited with ${String(result.status)}`);
    times.push(performance.now() - t0);
  }
  return round(median(times));
}
