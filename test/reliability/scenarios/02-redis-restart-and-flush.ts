import { request } from '../harness/http.js';
import { assertSettled, RecoveryClock } from '../harness/invariants.js';
import { emptyStats, OrderLoad, registerCustomers, summarizeStats } from '../harness/load.js';
import type { Scenario, ScenarioContext } from '../harness/scenario.js';
import type { SystemProcess } from '../harness/system-process.js';
import { assert, sleep, waitFor } from '../harness/util.js';

type RedisFault = 'flushall' | 'restart' | 'kill';

interface FaultRecord {
  readonly fault: RedisFault;
  readonly atAccepted: number;
  readonly downMs: number;
  /** Orders the API accepted while Redis was away (PostgreSQL alone holds them). */
  readonly acceptedWhileDown: number;
  /** From Redis back until the dev server reported ready again. */
  readonly readyAgainMs: number;
}

async function ready(system: SystemProcess): Promise<boolean> {
  const r = await request(system.baseUrl, 'GET', '/health/ready', { timeoutMs: 3_000 });
  return r.ok && r.response.status === 200;
}

/**
 * Redis keeps nothing: restarting it, killing it or emptying it (FLUSHALL) mid-load loses every
 * queued BullMQ job and every lock. The outbox (what was committed is relayed) and the inbox
 * (what was relayed is a pending delivery the sweeper signals again) must bring every saga to its
 * end, in the orchestration style this time.
 */
export const redisRestartAndFlush: Scenario = {
  id: 'redis-restart-flush',
  number: 2,
  title: 'Redis restarted, killed and emptied (FLUSHALL) during load',
  async run(ctx: ScenarioContext) {
    const orders = ctx.quick ? 250 : 1_500;
    const customersCount = ctx.quick ? 25 : 100;
    const concurrency = 16;
    const faults: RedisFault[] = ctx.quick ? ['flushall', 'kill'] : ['flushall', 'restart', 'flushall', 'kill', 'flushall', 'restart'];
    const outageMs = ctx.quick ? 2_000 : 3_000;
    const { system, databaseUrl } = await ctx.createSystem({ SAGA_STYLE: 'orchestration' });
    await system.start();
    const customers = await registerCustomers(system.baseUrl, customersCount, ctx.random, emptyStats());
    const load = new OrderLoad({
      baseUrl: system.baseUrl,
      customers,
      orders,
      concurrency,
      random: ctx.random,
      cancelShare: 0.15,
      unknownCustomerShare: 0.01,
      otherCurrencyShare: 0.01,
      requestTimeoutMs: 10_000,
      maxDurationMs: ctx.quick ? 90_000 : 240_000,
      keyPrefix: `redis-${ctx.seed}`,
      // Without Redis the API still takes orders at full speed: pace them so every fault lands mid-load.
      ratePerSecond: ctx.quick ? 15 : 40,
    });
    const loadStarted = Date.now();
    const loadDone = load.start();

    const records: FaultRecord[] = [];
    const clock = new RecoveryClock(databaseUrl);
    for (const [index, fault] of faults.entries()) {
      await load.waitForAccepted(Math.floor((orders * (index + 1)) / (faults.length + 2)));
      const atAccepted = load.acceptedCount;
      if (fault === 'flushall') {
        const keys = await ctx.redis.keyCount();
        await ctx.redis.flushAll();
        ctx.log('FLUSHALL', { keys, atAccepted });
        records.push({ fault, atAccepted, downMs: 0, acceptedWhileDown: 0, readyAgainMs: 0 });
        clock.faultEnded(load.acceptedIds());
        continue;
      }
      if (fault === 'kill') await ctx.redis.kill();
      else await ctx.redis.stop();
      const downAt = Date.now();
      await waitFor('the dev server to report Redis unavailable', async () => ((await ready(system)) ? undefined : true), {
        timeoutMs: 10_000,
        intervalMs: 100,
      });
      await sleep(outageMs);
      const acceptedWhileDown = load.acceptedCount - atAccepted;
      await ctx.redis.restart();
      const backAt = Date.now();
      clock.faultEnded(load.acceptedIds());
      await waitFor('the dev server to be ready again', async () => ((await ready(system)) ? true : undefined), {
        timeoutMs: 30_000,
        intervalMs: 100,
      });
      const readyAgainMs = Date.now() - backAt;
      records.push({ fault, atAccepted, downMs: backAt - downAt, acceptedWhileDown, readyAgainMs });
      ctx.log(`Redis ${fault}`, { atAccepted, downMs: backAt - downAt, acceptedWhileDown, readyAgainMs });
    }
    await loadDone;
    const loadEndedAt = Date.now();

    const invariants = await assertSettled({
      databaseUrl,
      intended: load.intended,
      knownCustomers: new Set(customers.map((c) => c.id)),
      allowTimeouts: false,
      timeoutMs: 60_000,
    });
    const recoveries = await clock.all();
    for (const r of records.filter((x) => x.fault !== 'flushall')) {
      assert(
        r.acceptedWhileDown > 0,
        `no order was accepted while Redis was down (${r.fault} at ${r.atAccepted}): the API must not depend on Redis`,
      );
    }
    assert(load.stats.unexpected.length === 0, `unexpected answers: ${load.stats.unexpected.slice(0, 5).join('; ')}`);
    assert((load.stats.byStatus[500] ?? 0) === 0, 'HTTP 500 answers during the Redis faults');
    assert(system.unexpectedExits.length === 0, `the system exited by itself: ${JSON.stringify(system.unexpectedExits)}`);

    return {
      load: `${orders} orders (15% cancelled once approved) at up to ${ctx.quick ? 15 : 40}/s from ${concurrency} concurrent clients across ${customersCount} customers; orchestration`,
      faults: `${[
        [faults.filter((f) => f === 'flushall').length, 'FLUSHALL'],
        [faults.filter((f) => f === 'restart').length, 'restart (SHUTDOWN NOSAVE)'],
        [faults.filter((f) => f === 'kill').length, 'SIGKILL'],
      ]
        .filter(([n]) => Number(n) > 0)
        .map(([n, what]) => `${n} ${what}`)
        .join(', ')} of Redis during the load, each outage ${outageMs / 1000} s`,
      lost: 0,
      recoveryMs: Math.max(...recoveries),
      invariants,
      figures: {
        faults: records.map((r, i) => ({ ...r, recoveryMs: recoveries[i] })),
        loadMs: loadEndedAt - loadStarted,
        settleAfterLoadMs: invariants.settleMs,
        cancelled: load.intended.filter((o) => o.cancelConfirmed).length,
        http: summarizeStats(load.stats),
        ordersByStatus: invariants.ordersByStatus,
        rejectionReasons: invariants.rejectionReasons,
      },
    };
  },
};
