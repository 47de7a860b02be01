import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../logging/logger.js';
import { requires } from '../route-config.js';
import { registerWithAccess } from '../security/api-security.js';

export const QUEUES_PATH = '/admin/queues';

export interface BullBoardOptions {
  readonly redisUrl: string;
  readonly prefix: string;
  /** The use cases whose queues to show (one queue each, as BullMqTransport names them). */
  readonly useCases: readonly string[];
  readonly logger: Logger;
}

/**
 * bull-board at /admin/queues (EVENT_BUS=bullmq), behind the admin guard. Read-only: a job is only
 * a wake-up signal for deliveries PostgreSQL holds (and is removed when it ends), so retrying,
 * adding or cleaning jobs here would change nothing an operator means; re-drive dead letters instead.
 * Loaded on demand, like the transport's driver: other transports never load bull-board.
 */
export async function registerBullBoard(app: FastifyInstance, options: BullBoardOptions): Promise<void> {
  const [{ createBullBoard }, { BullMQAdapter }, { FastifyAdapter }, { Queue }, { Redis }, { queueNameOf }] = await Promise.all([
    import('@bull-board/api'),
    import('@bull-board/api/bullMQAdapter'),
    import('@bull-board/fastify'),
    import('bullmq'),
    import('ioredis'),
    import('../../messaging/bullmq-transport.js'),
  ]);
  const connection = new Redis(options.redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
  connection.on('error', (error) => options.logger.warn({ err: error }, 'bull-board redis connection error'));
  const queues = options.useCases.map((useCase) => new Queue(queueNameOf(useCase), { connection, prefix: options.prefix }));
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(QUEUES_PATH);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: true })),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Saga queues' } },
  });
  await registerWithAccess(app, requires('admin').access, serverAdapter.registerPlugin(), { prefix: QUEUES_PATH });
  app.addHook('onClose', async () => {
    await Promise.allSettled(queues.map((q) => q.close()));
    connection.disconnect();
  });
}
