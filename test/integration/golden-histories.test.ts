import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ALL_INBOXES, ALL_MODULES } from '../../src/entrypoints/composition/all-modules.js';
import { SAGA_STYLES, type SagaStyle } from '../../src/shared/contract/routing.js';
import { HistoryDriver, type Action, type GoldenHistory } from '../support/golden-history.js';
import { systemsClosedAfterEach } from '../support/system.js';

/**
 * Golden histories (ADR 37): each saga path, in both styles, recorded once (`npm run golden:record`)
 * and replayed here against the current handlers on a fresh database. A handler that now emits
 * something else, reads a recorded message differently or ends the saga elsewhere fails this
 * test; if the change is meant, re-record and let the reviewer read the diff of the history.
 */
const start = systemsClosedAfterEach(afterEach);
const RECORD = process.env['GOLDEN_RECORD'] === '1';
const DIR = join(import.meta.dirname, '..', 'golden');
const DEADLINE_MS = 100;

const PATHS: Record<string, readonly Action[]> = {
  approved: [{ do: 'register-customer', creditLimit: 1_000 }, { do: 'place-order', total: 600, customer: 'registered' }, { do: 'settle' }],
  'rejected-for-credit': [
    { do: 'register-customer', creditLimit: 1_000 },
    { do: 'place-order', total: 1_600, customer: 'registered' },
    { do: 'settle' },
  ],
  'unknown-customer': [{ do: 'place-order', total: 600, customer: 'unknown' }, { do: 'settle' }],
  'cancelled-with-compensation': [
    { do: 'register-customer', creditLimit: 1_000 },
    { do: 'place-order', total: 600, customer: 'registered' },
    { do: 'settle' },
    { do: 'cancel-order' },
    { do: 'settle' },
  ],
  // Nothing is delivered before the deadline; the reservation then arrives late and is given back.
  'timed-out': [
    { do: 'register-customer', creditLimit: 1_000 },
    { do: 'place-order', total: 600, customer: 'registered' },
    { do: 'expire-overdue-orders' },
    { do: 'settle' },
  ],
};

const fileOf = (style: SagaStyle, path: string) => join(DIR, style, `${path}.json`);

async function system(style: SagaStyle) {
  // The monolith's modules whatever TEST_COMPOSITION says: a history is the monolith's behaviour.
  return start({
    env: { SAGA_STYLE: style, EVENT_BUS: 'memory', ORDER_DEADLINE_MS: String(DEADLINE_MS) },
    consume: false,
    modules: ALL_MODULES,
    inboxes: ALL_INBOXES,
  });
}

async function record(style: SagaStyle, path: string): Promise<GoldenHistory> {
  const driver = new HistoryDriver(await system(style), ALL_INBOXES, style);
  for (const action of PATHS[path]!) {
    if (action.do === 'settle') await driver.settle();
    else await act(driver, action);
  }
  return { style, path, steps: driver.steps, outcome: await driver.outcome() };
}

async function replay(golden: GoldenHistory): Promise<GoldenHistory> {
  const driver = new HistoryDriver(await system(golden.style), ALL_INBOXES, golden.style);
  for (const step of golden.steps) {
    if ('action' in step) await act(driver, step.action);
    else await driver.deliverRecorded(step.deliver, step.envelope);
  }
  return { style: golden.style, path: golden.path, steps: driver.steps, outcome: await driver.outcome() };
}

async function act(driver: HistoryDriver, action: Exclude<Action, { do: 'settle' }>): Promise<void> {
  if (action.do === 'expire-overdue-orders') await new Promise((r) => setTimeout(r, DEADLINE_MS + 50));
  await driver.act(action);
}

describe.each(SAGA_STYLES)('golden histories, %s', (style) => {
  it.each(Object.keys(PATHS))('%s: the recorded envelopes replayed end where they ended', { timeout: 30_000 }, async (path) => {
    const file = fileOf(style, path);
    if (RECORD) {
      const history = await record(style, path);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, `${JSON.stringify(history, null, 2)}\n`);
      // The recording must replay on its own: a history that cannot is no golden.
      expect(await replay(history)).toEqual(history);
      return;
    }
    if (!existsSync(file)) throw new Error(`${file} is missing: record it with \`npm run golden:record\``);
    const golden = JSON.parse(readFileSync(file, 'utf8')) as GoldenHistory;
    expect(await replay(golden)).toEqual(golden);
  });
});

describe('golden histories bite', () => {
  it('a recorded message the handlers now answer otherwise fails the replay', { timeout: 30_000 }, async () => {
    const golden = JSON.parse(readFileSync(fileOf('choreography', 'approved'), 'utf8')) as GoldenHistory;
    // The order.created.v1 as an older release might have written it: a total above the credit limit.
    const steps = golden.steps.map((s) =>
      'deliver' in s && s.envelope.type === 'order.created.v1'
        ? { ...s, envelope: { ...s.envelope, payload: { ...(s.envelope.payload as object), total: { amount: 1_600, currency: 'USD' } } } }
        : s,
    );
    const replayed = await replay({ ...golden, steps });
    expect(replayed.steps.find((s) => 'deliver' in s && s.deliver === 'customer.reserve-credit')?.emitted.map((m) => m.type)).toEqual([
      'customer.credit-reservation-failed.v1',
    ]);
    expect(replayed.outcome).not.toEqual(golden.outcome);
  });
});
