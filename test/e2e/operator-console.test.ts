import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { SagaReader } from '../../src/shared/infrastructure/http/console/saga-reader.js';
import { buildTimeline } from '../../src/shared/infrastructure/http/console/timeline.js';
import {
  eventually,
  placeOrder,
  registerCustomer,
  sql,
  systemsClosedAfterEach,
  waitForStatus,
  type TestSystem,
} from '../support/system.js';

/**
 * The operator console in a real browser: the saga timeline of a finished saga, bull-board under
 * the API's Content-Security-Policy, and the dead-letter page's re-drive button.
 * WRITE_CONSOLE_SCREENSHOT=1 also writes docs/observability-saga-timeline.png.
 */
const start = systemsClosedAfterEach(afterEach);
const TRACE_UI_URL = 'http://localhost:16686/trace/{traceId}';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let browser: Browser;
beforeAll(async () => {
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});
afterAll(async () => {
  await browser?.close();
});

/** A page that records every Content-Security-Policy violation it reports. */
async function openPage(): Promise<{ page: Page; violations: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  });
  return { page, violations };
}

async function finishedSaga(system: TestSystem): Promise<string> {
  const customerId = await registerCustomer(system.app, { amount: 100, currency: 'EUR' });
  const orderId = await placeOrder(system.app, customerId, { amount: 30, currency: 'EUR' });
  await waitForStatus(system.app, orderId, ['APPROVED']);
  await eventually(async () => {
    const [row] = await sql<{ open: number }>(
      system,
      `select (select count(*) from ordering.inbox where correlation_id = ? and status <> 'done')
            + (select count(*) from customers.inbox where correlation_id = ? and status <> 'done') as open`,
      [orderId, orderId],
    );
    return Number(row?.open) === 0 ? true : undefined;
  });
  return orderId;
}

async function listen(system: TestSystem): Promise<string> {
  return system.app.listen({ host: '127.0.0.1', port: 0 });
}

describe('operator console (EVENT_BUS=bullmq, Chromium)', () => {
  it('shows every step of a finished saga on its timeline, with use case, attempts and linked trace', async () => {
    const system = await start({ env: { EVENT_BUS: 'bullmq', TRACE_UI_URL } });
    // bull-board is mounted only with ADMIN_QUEUES_UI=true (its queue objects cost CPU per saga).
    expect((await system.app.inject({ method: 'GET', url: '/admin/queues' })).statusCode).toBe(404);
    // ... and no page links to it then; the JSON twin of the dead-letters page says it varies by Accept.
    const json = await system.app.inject({ method: 'GET', url: '/admin/dead-letters' });
    expect(json.headers['vary']).toMatch(/accept/i);
    const html = await system.app.inject({ method: 'GET', url: '/admin/dead-letters', headers: { accept: 'text/html' } });
    expect(html.body).not.toContain('href="/admin/queues"');
    const orderId = await finishedSaga(system);
    const base = await listen(system);
    const steps = await sql<{ name: string }>(system, 'select name from ordering.saga_steps where order_id = ? order by seq', [orderId]);
    const [trace] = await sql<{ traceparent: string }>(system, 'select traceparent from ordering.outbox where correlation_id = ? limit 1', [
      orderId,
    ]);
    const traceId = trace?.traceparent.split('-')[1] ?? 'missing';

    const { page, violations } = await openPage();
    const response = await page.goto(`${base}/admin/sagas/${orderId}`);
    expect(response?.status()).toBe(200);
    await expect(page.title()).resolves.toContain(orderId);
    const items = page.getByRole('list', { name: 'Saga timeline' }).getByRole('listitem');
    const texts = await items.allInnerTexts();
    // Every step the saga log holds, in order, then the delivery that recorded no step.
    // credit-reserved and order-approved are recorded by one transaction at one instant: either seq order.
    expect(steps.map((s) => s.name).sort()).toEqual(['credit-reserved', 'order-approved', 'order-placed']);
    const stepLines = texts.filter((t) => t.startsWith('Step '));
    expect(stepLines.map((t) => /^Step (\S+)/.exec(t)?.[1])).toEqual(steps.map((s) => s.name));
    expect(stepLines[0]).toMatch(/Use case\s+order\.api/);
    expect(stepLines[2]).toMatch(/Use case\s+order\.approve-order[\s\S]*Handled\s+customer\.credit-reserved\.v1[\s\S]*Attempts\s+1/);
    expect(texts.find((t) => t.startsWith('customer.reserve-credit handled order.created.v1'))).toMatch(/Attempts\s+1/);
    expect(texts).toHaveLength(4);
    const traceLinks = await items.locator(`a[href="http://localhost:16686/trace/${traceId}"]`).count();
    expect(traceLinks).toBe(4);
    if (process.env['WRITE_CONSOLE_SCREENSHOT'] === '1') {
      await page.screenshot({ path: 'docs/observability-saga-timeline.png', fullPage: true });
    }
    expect(violations).toEqual([]);
    await page.close();
  });

  it('serves bull-board at /admin/queues under the Content-Security-Policy', async () => {
    const system = await start({ env: { EVENT_BUS: 'bullmq', ADMIN_QUEUES_UI: 'true' } });
    const base = await listen(system);
    const { page, violations } = await openPage();
    const api = page.waitForResponse((r) => r.url().includes('/admin/queues/api/queues'));
    const response = await page.goto(`${base}/admin/queues`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
    // The board's scripts ran: it lists the use cases' queues.
    await page.getByText('customer.reserve-credit').first().waitFor({ timeout: 15_000 });
    await page.getByText('order.approve-order').first().waitFor();
    expect((await api).status()).toBe(200);
    // Its Google Fonts stylesheet is refused (no third-party origin); it falls back to system fonts.
    expect(violations.filter((v) => !v.includes('fonts.googleapis.com'))).toEqual([]);
    await page.close();
  });

  it('lists dead letters with a re-drive button per use case that re-drives through the API', async () => {
    const system = await start({ env: { EVENT_BUS: 'bullmq', ADMIN_QUEUES_UI: 'true' } });
    const orderId = await finishedSaga(system);
    const hostile = '<img src=x onerror="window.pwned=1"> & "quotes"';
    await sql(system, `update customers.inbox set status = 'dead', error_code = 'TEST', last_error = ? where correlation_id = ?`, [
      hostile,
      orderId,
    ]);
    const base = await listen(system);
    const { page, violations } = await openPage();
    expect((await page.goto(`${base}/admin/dead-letters`))?.headers()['content-type']).toContain('text/html');
    const row = page.getByRole('row').filter({ hasText: orderId });
    await expect(row.innerText()).resolves.toContain(hostile);
    await expect(page.evaluate('window.pwned')).resolves.toBeUndefined();
    await expect(row.getByRole('link', { name: orderId }).getAttribute('href')).resolves.toBe(`/admin/sagas/${orderId}`);

    // By keyboard, as an operator without a mouse would.
    await page.getByRole('button', { name: /Re-drive 1 dead letter of customer\.reserve-credit/ }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('status').filter({ hasText: 'Re-drove 1 dead letter(s) of customer.reserve-credit' }).waitFor();
    const [delivery] = await sql<{ status: string }>(system, 'select status from customers.inbox where correlation_id = ?', [orderId]);
    expect(delivery?.status).not.toBe('dead');
    await page.getByText('No dead letters.').waitFor();
    // The navigation's labelled field opens a saga.
    await page.getByLabel('Saga id').fill(orderId);
    await page.keyboard.press('Enter');
    await page.waitForURL(`${base}/admin/sagas/${orderId}`);
    await page.getByRole('heading', { name: `Saga of order ${orderId}` }).waitFor();
    expect(violations).toEqual([]);
    // API clients still get the JSON list from the same URL.
    const json = await system.app.inject({ method: 'GET', url: '/admin/dead-letters', headers: { accept: 'application/json' } });
    expect(json.json()).toEqual({ items: [] });
    await page.close();
  });

  it('keeps the pages and bull-board behind the admin guard', async () => {
    const system = await start({ env: { EVENT_BUS: 'bullmq', ADMIN_QUEUES_UI: 'true', ADMIN_TOKEN: 'a-break-glass-token-for-tests' } });
    const html = { accept: 'text/html' };
    // As the JSON admin routes answer a caller without the break-glass token.
    const refused = (await system.app.inject({ method: 'GET', url: '/admin/deliveries/stats' })).statusCode;
    expect(refused).toBe(401);
    for (const url of [
      '/admin',
      '/admin/queues',
      '/admin/queues/api/queues',
      `/admin/sagas/${'0'.repeat(8)}-0000-7000-8000-${'0'.repeat(12)}`,
      '/admin/dead-letters',
      '/admin/console/console.js',
    ]) {
      expect((await system.app.inject({ method: 'GET', url, headers: html })).statusCode, url).toBe(refused);
    }
    const allowed = await system.app.inject({
      method: 'GET',
      url: '/admin/queues',
      headers: { ...html, authorization: 'Bearer a-break-glass-token-for-tests' },
    });
    expect(allowed.statusCode).toBe(200);
    // /admin opens the console (its dead letters, whose navigation leads everywhere else).
    const index = await system.app.inject({
      method: 'GET',
      url: '/admin',
      headers: { ...html, authorization: 'Bearer a-break-glass-token-for-tests' },
    });
    expect([index.statusCode, index.headers['location']]).toEqual([303, '/admin/dead-letters']);
    // Pages for browsers, not API operations: the OpenAPI document leaves them out.
    const paths = Object.keys((await system.app.inject({ method: 'GET', url: '/openapi.json' })).json<{ paths: object }>().paths);
    expect(paths.filter((p) => /^\/admin\/(queues|sagas|console)/.test(p))).toEqual([]);
    expect(paths).toContain('/admin/dead-letters');
  });

  it('reads the dead-letter page’s limit and use case as its JSON twin does', async () => {
    const system = await start({ env: { EVENT_BUS: 'memory' }, consume: false, jobs: false });
    const page = (query: string) =>
      system.app.inject({ method: 'GET', url: `/admin/dead-letters${query}`, headers: { accept: 'text/html' } });
    for (const query of ['?limit=5', '?limit=500', '?useCase=customer.reserve-credit&limit=1', '']) {
      const res = await page(query);
      expect([query, res.statusCode, res.headers['content-type']]).toEqual([query, 200, 'text/html; charset=utf-8']);
    }
    for (const limit of ['0', '501', 'abc', '1.5', '']) {
      const [html, json] = [
        await page(`?limit=${limit}`),
        await system.app.inject({ method: 'GET', url: `/admin/dead-letters?limit=${limit}` }),
      ];
      expect([limit, html.statusCode, html.json<{ code: string }>().code]).toEqual([limit, 422, 'INVALID_LIMIT']);
      expect([limit, json.statusCode]).toEqual([limit, 422]);
    }
    expect((await page('?useCase=nobody.nothing')).json<{ code: string }>().code).toBe('UNKNOWN_USE_CASE');
  });

  it('names the ECS task launched for a use case before its delivery (EVENT_BUS=ecs reads launches)', async () => {
    const system = await start({ env: { EVENT_BUS: 'memory' } });
    const orderId = await finishedSaga(system);
    const arn = 'arn:aws:ecs:eu-west-1:123456789012:task/saga/0123456789abcdef0123456789abcdef';
    await sql(
      system,
      `insert into customers.launch_attempts (id, use_case, client_token, task_count, status, task_arns, created_at)
       select gen_random_uuid(), 'customer.reserve-credit', 'console-test', 1, 'started', array[?], created_at - interval '1 second'
       from customers.inbox where correlation_id = ?`,
      [arn, orderId],
    );
    const record = await new SagaReader(
      system.runtime.modules.flatMap((m) => (m.definition.sagaView ? [m.definition.sagaView(m.container)] : [])),
      system.runtime.modules.map((m) => m.db),
      true,
    ).read(orderId);
    if (!record) throw new Error('no saga read');
    const reserve = buildTimeline(record, 'ecs').find((e) => e.useCase === 'customer.reserve-credit');
    expect(reserve?.process).toContain(arn);
  });
});
