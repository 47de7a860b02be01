import { createServer, type Server } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { safeReturnTo } from '../../src/shared/infrastructure/http/security/sign-in/sign-in.routes.js';
import { startAlbStandIn, type AlbStandIn } from '../support/alb-standin.js';
import { cloneRunDatabase } from '../support/databases.js';
import { startTestProvider, type TestProvider } from '../support/oidc-provider.js';
import { freePort } from '../support/ports.js';
import {
  eventually,
  placeOrder,
  registerCustomer,
  sql,
  systemsClosedAfterEach,
  waitForStatus,
  type TestSystem,
} from '../support/system.js';
import { selfSignedCertificate } from '../support/tls.js';

/**
 * Operators sign in to the console in a real browser (Chromium) with OpenID Connect against a real
 * provider (oidc-provider at http://localhost), through a TLS-terminating ALB stand-in at
 * https://127.0.0.1 (another site) that takes two API replicas in turn: the sign-in, the session
 * (server-side, in PostgreSQL), its cookie's attributes, CSRF refusal, SameSite, sign-out.
 */
const start = systemsClosedAfterEach(afterEach);
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
];
const CLIENT_ID = 'saga-console';
const RESOURCE = 'https://api.saga.test/';
const AUDIENCE = 'saga-api-test';
const BREAK_GLASS = 'a-break-glass-token-for-console-tests';
const COOKIE = '__Secure-saga-console';

let browser: Browser;
beforeAll(async () => {
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});
afterAll(async () => {
  await browser?.close();
});
const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.allSettled(closers.splice(0).map((close) => close()));
});

interface Deployment {
  readonly origin: string;
  readonly provider: TestProvider;
  readonly alb: AlbStandIn;
  readonly replicas: readonly TestSystem[];
  /** An order whose Customer delivery is dead. */
  readonly deadOrderId: string;
}

/** A finished saga whose customer.reserve-credit delivery is then marked dead, by a system without authentication. */
async function deadLetter(databaseUrl: string): Promise<string> {
  const seeder = await start({ databaseUrl, env: { EVENT_BUS: 'memory' } });
  const customerId = await registerCustomer(seeder.app, { amount: 100, currency: 'EUR' });
  const orderId = await placeOrder(seeder.app, customerId, { amount: 30, currency: 'EUR' });
  await waitForStatus(seeder.app, orderId, ['APPROVED']);
  await eventually(async () => {
    const [row] = await sql<{ open: number }>(
      seeder,
      `select count(*)::int as open from customers.inbox where correlation_id = ? and status <> 'done'`,
      [orderId],
    );
    return row?.open === 0 ? true : undefined;
  });
  await sql(
    seeder,
    `update customers.inbox set status = 'dead', error_code = 'TEST', last_error = 'made dead by the test' where correlation_id = ?`,
    [orderId],
  );
  await seeder.close();
  return orderId;
}

/** The provider, two API replicas on one database with console sign-in on, and the ALB (TLS) in front. */
async function deployment(): Promise<Deployment> {
  const [albPort, providerPort] = [await freePort(), await freePort()];
  const origin = `https://127.0.0.1:${albPort}`;
  const provider = await startTestProvider({
    port: providerPort,
    clientId: CLIENT_ID,
    clientSecret: 'a-client-secret-of-the-console',
    consoleOrigin: origin,
    resource: RESOURCE,
    audience: AUDIENCE,
  });
  closers.push(() => provider.close());
  const databaseUrl = await cloneRunDatabase();
  const deadOrderId = await deadLetter(databaseUrl);
  const env = {
    EVENT_BUS: 'memory',
    AUTH_MODE: 'jwt',
    AUTH_ISSUER: provider.issuer,
    AUTH_AUDIENCE: AUDIENCE,
    AUTH_JWKS_URL: provider.jwksUrl,
    ADMIN_TOKEN: BREAK_GLASS,
    CONSOLE_OIDC_CLIENT_ID: CLIENT_ID,
    CONSOLE_OIDC_CLIENT_SECRET: 'a-client-secret-of-the-console',
    CONSOLE_OIDC_AUTHORIZATION_PARAMS: `resource=${RESOURCE}`,
    CONSOLE_PUBLIC_URL: origin,
    CONSOLE_SESSION_SECRET: 'a-session-secret-of-at-least-32-characters',
    TRUST_PROXY: '127.0.0.1/32',
  };
  const replicas = [
    await start({ databaseUrl, env, consume: false, jobs: false }),
    await start({ databaseUrl, env, consume: false, jobs: false }),
  ];
  const targets = await Promise.all(replicas.map((r) => r.app.listen({ host: '127.0.0.1', port: 0 })));
  const alb = await startAlbStandIn({ targets, port: albPort, tls: await selfSignedCertificate() });
  closers.push(() => alb.close());
  return { origin, provider, alb, replicas, deadOrderId };
}

async function browserContext(): Promise<BrowserContext> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1100, height: 900 } });
  closers.push(() => context.close());
  return context;
}

/** Through the provider's login and consent pages, as `login`. */
async function signInAtProvider(page: Page, provider: TestProvider, login: string): Promise<void> {
  await page.waitForURL((url) => url.href.startsWith(provider.issuer));
  await page.locator('input[name=login]').fill(login);
  await page.locator('input[name=password]').fill('any password will do');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
}

async function sessionRows(system: TestSystem): Promise<number> {
  const [row] = await sql<{ n: number }>(
    system,
    `select count(*)::int as n from operator_console.sessions where data->'operator' is not null`,
  );
  return row?.n ?? -1;
}

describe('operator console sign-in (OpenID Connect, Chromium)', () => {
  it(
    'signs an operator in with the code flow, keeps the session on every replica, refuses forged POSTs, signs out',
    { timeout: 90_000 },
    async () => {
      const { origin, provider, alb, replicas, deadOrderId } = await deployment();
      const context = await browserContext();
      const page = await context.newPage();
      const violations: string[] = [];
      page.on('console', (m) => /Content Security Policy/i.test(m.text()) && violations.push(m.text()));

      // Without a session a page sends the browser to sign in, and back to where it wanted to go.
      await page.goto(`${origin}/admin/sagas/${deadOrderId}`);
      await signInAtProvider(page, provider, 'operator-ada');
      await page.waitForURL(`${origin}/admin/sagas/${deadOrderId}`);
      await page.getByRole('heading', { name: `Saga of order ${deadOrderId}` }).waitFor();
      await expect(page.getByRole('navigation').innerText()).resolves.toContain('Signed in as operator-ada');

      const cookie = (await context.cookies(`${origin}/admin/`)).find((c) => c.name === COOKIE);
      expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict', path: '/admin' });
      expect(await sessionRows(replicas[0]!)).toBe(1);
      // The session ends CONSOLE_SESSION_TTL_MS (an hour) after sign-in, on the server too: not when the
      // ten-minute sign-in window it was started in would have (@fastify/session reads originalExpires first).
      const [stored] = await sql<{
        data: { cookie: { expires: string; originalExpires?: string }; operator: { signedInAt: string } };
        expires_at: Date;
      }>(replicas[0]!, `select data, expires_at from operator_console.sessions`);
      const signedInAt = Date.parse(stored!.data.operator.signedInAt);
      for (const end of [
        stored!.data.cookie.originalExpires ?? stored!.data.cookie.expires,
        stored!.data.cookie.expires,
        stored!.expires_at,
      ]) {
        expect(new Date(end).getTime() - signedInAt).toBeGreaterThan(59 * 60_000);
      }
      expect(cookie!.expires * 1000 - signedInAt).toBeGreaterThan(59 * 60_000);

      // Each replica serves the session: the ALB takes them in turn.
      for (let i = 0; i < 4; i++) {
        await page.goto(`${origin}/admin/dead-letters`);
        await page.getByText('Signed in as operator-ada').waitFor();
      }
      // Every one of these needs the operator's session (the page, and its script behind the admin guard).
      const served = alb.log.filter((l) => /^\/admin\/(dead-letters|console\/console\.js)$/.test(l.path) && l.status === 200);
      expect(served.length).toBeGreaterThanOrEqual(8);
      expect(new Set(served.map((l) => l.target)).size).toBe(2);

      // A POST without the page's CSRF token, or with another, is refused and changes nothing.
      const forged = await page.evaluate(async () => {
        const answers = [];
        for (const token of [undefined, 'forged-token']) {
          const response = await fetch('/admin/dead-letters/redrive', {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...(token ? { 'x-csrf-token': token } : {}) },
            body: JSON.stringify({ all: true }),
          });
          answers.push({ status: response.status, body: (await response.json()) as { code: string } });
        }
        return answers;
      });
      expect(forged).toEqual([
        { status: 403, body: expect.objectContaining({ code: 'CSRF_TOKEN_INVALID' }) },
        { status: 403, body: expect.objectContaining({ code: 'CSRF_TOKEN_INVALID' }) },
      ]);
      const [dead] = await sql<{ status: string }>(replicas[0]!, 'select status from customers.inbox where correlation_id = ?', [
        deadOrderId,
      ]);
      expect(dead?.status).toBe('dead');

      // Another site's form cannot use the session: the Strict cookie is not sent with it, so it signs nobody out
      // (sent, it would have been refused 403 for want of a CSRF token).
      const attacker = await crossSiteForm(`${origin}/admin/sign-out`);
      await page.goto(attacker);
      await page.waitForURL(`${origin}/admin/signed-out`);
      expect(alb.log.filter((l) => l.path === '/admin/sign-out').map((l) => l.status)).toEqual([303]);
      expect((await context.cookies(`${origin}/admin/`)).find((c) => c.name === COOKIE)?.value).toBe(cookie!.value);
      expect(await sessionRows(replicas[0]!)).toBe(1);
      const signIns = alb.log.filter((l) => l.path.startsWith('/admin/sign-in')).length;
      await page.goto(`${origin}/admin/dead-letters`);
      await page.getByText('Signed in as operator-ada').waitFor();
      expect(alb.log.filter((l) => l.path.startsWith('/admin/sign-in')).length).toBe(signIns);

      // The page's own button carries the token: the re-drive goes through.
      await page.getByRole('button', { name: /Re-drive 1 dead letter of customer\.reserve-credit/ }).click();
      await page.getByRole('status').filter({ hasText: 'Re-drove 1 dead letter(s) of customer.reserve-credit' }).waitFor();
      const [redriven] = await sql<{ status: string }>(replicas[0]!, 'select status from customers.inbox where correlation_id = ?', [
        deadOrderId,
      ]);
      expect(redriven?.status).not.toBe('dead');

      // Sign out: the session ends on every replica at once, then at the provider.
      const before = cookie!.value;
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('button', { name: 'Yes, sign me out' }).click();
      await page.waitForURL(`${origin}/admin/signed-out`);
      await page.getByRole('heading', { name: 'Signed out' }).waitFor();
      expect((await context.cookies(`${origin}/admin/`)).find((c) => c.name === COOKIE)).toBeUndefined();
      expect(await sessionRows(replicas[0]!)).toBe(0);
      for (let i = 0; i < 2; i++) {
        const replay = await context.request.get(`${origin}/admin/deliveries/stats`, { headers: { cookie: `${COOKIE}=${before}` } });
        expect(replay.status()).toBe(401);
      }
      // A page now sends the browser to the provider, where the operator must sign in again.
      await page.goto(`${origin}/admin/dead-letters`);
      await page.waitForURL((url) => url.href.startsWith(provider.issuer));
      await page.locator('input[name=login]').waitFor();
      expect(violations).toEqual([]);
    },
  );

  it(
    'refuses an account without the admin scope, and keeps ADMIN_TOKEN as break-glass for the JSON routes',
    { timeout: 60_000 },
    async () => {
      const { origin, provider, replicas } = await deployment();
      const context = await browserContext();
      const page = await context.newPage();
      await page.goto(`${origin}/admin/dead-letters`);
      await signInAtProvider(page, provider, 'viewer-bob');
      await page.getByRole('heading', { name: 'Not an operator' }).waitFor();
      await expect(page.locator('main').innerText()).resolves.toContain('viewer-bob, without the admin scope');
      expect((await context.cookies(`${origin}/admin/`)).find((c) => c.name === COOKIE)).toBeUndefined();
      expect(await sessionRows(replicas[0]!)).toBe(0);

      // Reached without TLS (no balancer saying https), sign-in says why instead of starting a loop it cannot finish.
      const direct = await replicas[0]!.app.inject({ method: 'GET', url: '/admin/dead-letters', headers: { accept: 'text/html' } });
      expect([direct.statusCode, direct.headers['location']]).toEqual([303, '/admin/sign-in?returnTo=%2Fadmin%2Fdead-letters']);
      const overHttp = await replicas[0]!.app.inject({ method: 'GET', url: '/admin/sign-in?returnTo=%2Fadmin%2Fdead-letters' });
      expect([overHttp.statusCode, overHttp.body.includes('sign-in needs HTTPS')]).toEqual([503, true]);
      const stats = (headers: Record<string, string>) => context.request.get(`${origin}/admin/deliveries/stats`, { headers });
      expect((await stats({})).status()).toBe(401);
      expect((await stats({ authorization: `Bearer ${BREAK_GLASS}` })).status()).toBe(200);
      // The break-glass token is no session: its POSTs need no CSRF token.
      const redrive = await context.request.post(`${origin}/admin/dead-letters/redrive`, {
        headers: { authorization: `Bearer ${BREAK_GLASS}`, 'content-type': 'application/json' },
        data: { useCase: 'customer.reserve-credit' },
      });
      expect(redrive.status()).toBe(200);
    },
  );

  it('returns only to console paths of this site after sign-in', () => {
    expect(safeReturnTo('/admin/sagas/x?y=1')).toBe('/admin/sagas/x?y=1');
    for (const hostile of [
      'https://evil.example/admin/',
      '//evil.example/admin/',
      '/\\evil.example',
      '/orders',
      '/admin/sign-in',
      '/admin/auth/callback?code=x',
      undefined,
    ]) {
      expect(safeReturnTo(hostile)).toBe('/admin/dead-letters');
    }
  });
});

/** A page on another site (http://localhost) whose form posts itself to `action` as soon as it loads. */
async function crossSiteForm(action: string): Promise<string> {
  const server: Server = createServer((_request, response) => {
    response
      .writeHead(200, { 'content-type': 'text/html' })
      .end(`<!doctype html><form id="f" method="post" action="${action}"></form><script>document.getElementById('f').submit()</script>`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => server.close(resolve)));
  return `http://localhost:${(server.address() as { port: number }).port}/`;
}
