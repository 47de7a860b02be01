import '../shared/infrastructure/observability/tracing-preload.js';
import { OutageTolerance } from '../shared/infrastructure/persistence/outage-tolerance.js';
import { isConnectionLoss } from '../shared/infrastructure/persistence/pg-connections.js';
import { shutdownTracing } from '../shared/infrastructure/observability/tracing.js';
import { baseLogger, configOrExit, requiredSetting } from './process.js';
import { monolithOrExit } from './composition/monolith.js';
import { exitWithHelpIfAsked } from './cli-help.js';

/**
 * One pass of upkeep, meant to run every minute as its own ECS task (an EventBridge schedule):
 * relays whatever outbox rows are left, signals again the pending deliveries no transport
 * carried (which launches their tasks), relaunches for use cases whose task died without
 * releasing its lease, rejects orders past their deadline, and purges old messaging rows.
 * With PostgreSQL away (a restart, a failover) the pass is run again once it is back, for at most
 * DB_OUTAGE_TOLERANCE_MS; then it exits 75 (EX_TEMPFAIL) and the next scheduled run takes over.
 */
exitWithHelpIfAsked(
  process.argv.slice(2),
  `usage: sweeper
  one pass of upkeep, then exits: relays leftover outbox rows, signals again the deliveries no
  transport carried, relaunches use cases whose task died, runs the modules' periodic jobs and
  purges old messaging rows. Needs DATABASE_URL (and REDIS_URL with EVENT_BUS=bullmq).
  Exits 0 when done, 75 when PostgreSQL stayed unreachable, 78 on a refused setting.`,
);
const config = configOrExit();
const logger = baseLogger(config, 'sweeper');
const databaseUrl = requiredSetting(config.DATABASE_URL, 'DATABASE_URL', 'the PostgreSQL the modules live in');
const runtime = await monolithOrExit({ config, logger, databaseUrl, redisUrl: config.REDIS_URL });
let code = 0;
try {
  const relayed = await new OutageTolerance(config.DB_OUTAGE_TOLERANCE_MS, logger, 'the sweep').run(async () => {
    const n = await runtime.relay.drainAll();
    // Each job is run even when another failed; a job lost to the outage makes the whole pass run again.
    const lost = (await runtime.runJobsOnce()).find((f) => isConnectionLoss(f.error));
    if (lost) throw lost.error;
    return n;
  });
  logger.info({ relayed }, 'sweep done');
} catch (error) {
  code = isConnectionLoss(error) ? 75 : 1;
  logger.error({ err: error }, code === 75 ? 'sweep gave up: PostgreSQL unreachable' : 'sweep failed');
} finally {
  await runtime.close();
  await shutdownTracing();
}
process.exit(code);
