import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../../../src/shared/infrastructure/logging/logger.js';
import { OutageTolerance } from '../../../../../src/shared/infrastructure/persistence/outage-tolerance.js';
import { isConnectionLoss } from '../../../../../src/shared/infrastructure/persistence/pg-connections.js';

function recordingLogger() {
  const lines: Array<{ level: number; msg: string }> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
      done();
    },
  });
  return { logger: createLogger({ level: 'info', destination }), lines };
}

const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

describe('isConnectionLoss', () => {
  it.each([
    ['a refused connection', refused()],
    [
      'an administrator shutdown (57P01)',
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
    ],
    ['a server in recovery (57P03)', Object.assign(new Error('the database system is starting up'), { code: '57P03' })],
    ['a connection exception (class 08)', Object.assign(new Error('x'), { code: '08006' })],
    ['a full connection table (53300)', Object.assign(new Error('too many clients'), { code: '53300' })],
    ['pg: connection terminated', new Error('Connection terminated unexpectedly')],
    ['pg: a client that lost its connection', new Error('Client has encountered a connection error and is not queryable')],
    ['knex: no connection to be had', new Error('Knex: Timeout acquiring a connection. The pool is probably full.')],
    ['a cause', new Error('wrapped', { cause: refused() })],
    ['every address refused', new AggregateError([refused(), refused()], 'connect failed')],
  ])('is true for %s', (_name, error) => {
    expect(isConnectionLoss(error)).toBe(true);
  });

  it.each([
    ['a syntax error', Object.assign(new Error('syntax error at or near "selec"'), { code: '42601' })],
    ['a unique violation', Object.assign(new Error('duplicate key'), { code: '23505' })],
    ['a deadlock', Object.assign(new Error('deadlock detected'), { code: '40P01' })],
    ['a domain error', new Error('credit limit exceeded')],
    ['nothing', undefined],
  ])('is false for %s', (_name, error) => {
    expect(isConnectionLoss(error)).toBe(false);
  });
});

describe('OutageTolerance', () => {
  it('runs the work again while PostgreSQL is away, and logs the outage once when it starts and once when it ends', async () => {
    const { logger, lines } = recordingLogger();
    let calls = 0;
    const value = await new OutageTolerance(5_000, logger, 'the test').run(async () => {
      calls += 1;
      if (calls < 4) throw refused();
      return 'done';
    });
    expect(value).toBe('done');
    expect(calls).toBe(4);
    expect(lines.map((l) => l.msg)).toEqual([
      'PostgreSQL cannot be reached; the test waits for it',
      'PostgreSQL is back; the test goes on',
    ]);
  });

  it('lets any other error through at once', async () => {
    let calls = 0;
    const work = new OutageTolerance(5_000, recordingLogger().logger, 'the test').run(async () => {
      calls += 1;
      throw new Error('a bug');
    });
    await expect(work).rejects.toThrow('a bug');
    expect(calls).toBe(1);
  });

  it('gives up with the connection error once the outage outlasts the tolerance', async () => {
    const { logger, lines } = recordingLogger();
    const started = Date.now();
    const work = new OutageTolerance(400, logger, 'the test').run(async () => {
      throw refused();
    });
    await expect(work).rejects.toSatisfy(isConnectionLoss);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(lines.at(-1)?.msg).toBe('PostgreSQL stayed away too long; the test gives up');
  });

  it('measures each outage from its own start', async () => {
    const tolerance = new OutageTolerance(300, recordingLogger().logger, 'the test');
    for (let outage = 0; outage < 3; outage++) {
      let calls = 0;
      // Each outage lasts about 200 ms: three of them add up to more than the tolerance, one does not.
      const until = Date.now() + 200;
      await tolerance.run(async () => {
        calls += 1;
        if (Date.now() < until) throw refused();
      });
      expect(calls).toBeGreaterThan(1);
      expect(tolerance.outageMs).toBe(0);
    }
  });
});
