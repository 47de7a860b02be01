import { assertSettled, RecoveryClock } from '../harness/invariants.js';
import { emptyStats, OrderLoad, registerCustomers, summarizeStats } from '../harness/load.js';
import type { Scenario } from '../harness/scenario.js';
import { assert, sleep } from '../harness/util.js';

/**
 * SIGKILL the process that runs the HTTP API, the outbox relay, the workers, the sweeper and
 * the deadline job, at random moments during a load, and start it again each time. Whatever it
 * was doing is cut where it stood: between a commit and its response, between a commit and the
 * relay, between the relay and the BullMQ signal, in the middle of a handler's transaction.
 */
export const processCrash: Scenario = {
  id: 'process-crash',
  number: 1,
  title: 'Process crash (SIGKILL) during load',
  async run(ctx) {
    const orders = ctx.quick ? 300 : 2_500;
    const kills = ctx.quick ? 3 : 12;
    const customersCount = ctx.quick ? 30 : 120;
    const concurrency = 16;
    const { system, databaseUrl } = await ctx.createSystem({ SAGA_STYLE: 'choreography' });
    const firstStartMs = await system.start();
    const setupStats = emptyStats();
    const customers = await registerCustomers(system.baseUrl, customersCount, ctx.random, setupStats);

    // Kill points: random counts of accepted orders, so every kill lands in the middle of the load.
    const thresholds = Array.from({ length: kills }, () => Math.floor(orders * (0.03 + ctx.random.next() * 0.87))).sort((a, b) => a - b);
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
      maxDurationMs: ctx.quick ? 90_000 : 300_000,
      keyPrefix: `crash-${ctx.seed}`,
      // Below what the system sustains on this machine: a backlog would measure capacity, not recovery.
      ratePerSecond: 25,
    });
    const loadStarted = Date.now();
    const loadDone = load.start();

    const clock = new RecoveryClock(databaseUrl);
    const restartMs: number[] = [];
    const downMs: number[] = [];
    let lastRestartReadyAt = 0;
    const killLog: Array<{ atAccepted: number; afterMs: number }> = [];
    for (const threshold of thresholds) {
      await load.waitForAccepted(threshold);
      // A random moment after the threshold, sometimes right after the previous restart.
      await sleep(ctx.random.int(0, 400));
      const killedAt = Date.now();
      killLog.push({ atAccepted: load.acceptedCount, afterMs: killedAt - loadStarted });
      await system.kill();
      const down = ctx.random.int(0, 1_500);
      await sleep(down);
      downMs.push(down);
      restartMs.push(await system.start());
      lastRestartReadyAt = Date.now();
      clock.faultEnded(load.acceptedIds());
    }
    await loadDone;
    const loadEndedAt = Date.now();
    ctx.log('load done', { accepted: load.acceptedCount, ms: loadEndedAt - loadStarted });

    const invariants = await assertSettled({
      databaseUrl,
      intended: load.intended,
      knownCustomers: new Set(customers.map((c) => c.id)),
      allowTimeouts: false,
      timeoutMs: 60_000,
    });
    const recoveries = await clock.all();
    const afterLastRestartMs = recoveries.at(-1) ?? 0;
    assert(
      afterLastRestartMs <= 30_000,
      `the orders accepted before the last restart ended ${afterLastRestartMs} ms after it (at most 30 s)`,
    );
    assert(invariants.settleMs <= 30_000, `the last orders ended ${invariants.settleMs} ms after the load (at most 30 s)`);
    assert(load.stats.unexpected.length === 0, `unexpected answers: ${load.stats.unexpected.slice(0, 5).join('; ')}`);
    assert(system.unexpectedExits.length === 0, `the system exited by itself: ${JSON.stringify(system.unexpectedExits)}`);
    assert(system.kills === kills, `expected ${kills} kills, did ${system.kills}`);

    return {
      load: `${orders} orders (idempotent retries, 15% cancelled once approved) at up to 25/s from ${concurrency} concurrent clients across ${customersCount} customers; choreography`,
      faults: `${kills} SIGKILLs of the dev server (HTTP + relay + workers + sweeper) at random moments of the load, down 0–1.5 s each`,
      lost: 0,
      recoveryMs: Math.max(...recoveries),
      invariants,
      figures: {
        firstStartMs,
        restartMs: { avg: Math.round(restartMs.reduce((a, b) => a + b, 0) / restartMs.length), max: Math.max(...restartMs) },
        downMs,
        kills: killLog,
        loadMs: loadEndedAt - loadStarted,
        recoveryMsPerKill: recoveries,
        afterLastRestartMs,
        lastRestartToLoadEndMs: loadEndedAt - lastRestartReadyAt,
        settleAfterLoadMs: invariants.settleMs,
        cancelled: load.intended.filter((o) => o.cancelConfirmed).length,
        http: summarizeStats(load.stats),
        ordersByStatus: invariants.ordersByStatus,
        rejectionReasons: invariants.rejectionReasons,
      },
    };
  },
};
