import fc from 'fast-check';
import { SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { sql, systemsClosedAfterEach, type TestSystem } from '../../support/system.js';
import { AUDIENCE, bearer, ISSUER, jwtEnv, sign, testIssuer, type Claims, type TestIssuer } from '../../support/tokens.js';

/**
 * Bearer tokens this API must refuse, generated: every one answers 401 with an RFC 6750 challenge
 * and writes nothing. The API trusts one ES256 key (AUTH_PUBLIC_KEY), made in the test.
 */
const start = systemsClosedAfterEach(afterEach);

const KINDS = [
  'alg-none',
  'hs256-with-the-public-key',
  'expired',
  'not-yet-valid',
  'wrong-issuer',
  'wrong-audience',
  'unknown-kid',
  'other-key-same-kid',
  'tampered-payload',
  'tampered-signature',
  'oversized',
  'garbage',
  'not-bearer',
  'no-exp',
  'no-sub',
  'customer-id-not-a-uuid',
] as const;
type Kind = (typeof KINDS)[number];

interface Case {
  readonly kind: Kind;
  readonly n: number;
  readonly text: string;
  readonly route: number;
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

interface Keys {
  readonly trusted: TestIssuer;
  readonly unknownKid: TestIssuer;
  readonly sameKid: TestIssuer;
}

const STAFF: Claims = { sub: 'staff-1', scope: 'orders:read orders:write customers:read customers:write admin' };

async function tamperedSignature(keys: Keys, c: Case): Promise<string> {
  const [h, p, s] = (await sign(keys.trusted, STAFF)).split('.') as [string, string, string];
  // Never the last character: its low bits are padding, and changing only them changes no byte.
  const i = c.n % (s.length - 1);
  const replacement = ALPHABET[(ALPHABET.indexOf(s[i]!) + 1 + (c.n % 63)) % 64]!;
  return `${h}.${p}.${s.slice(0, i)}${replacement}${s.slice(i + 1)}`;
}

/** The Authorization header (or none) of one bad case. */
async function authorization(keys: Keys, c: Case): Promise<string | undefined> {
  const now = Math.floor(Date.now() / 1000);
  const good = { iss: ISSUER, aud: AUDIENCE, exp: now + 600, ...STAFF };
  switch (c.kind) {
    case 'alg-none':
      return `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64(good)}.`;
    case 'hs256-with-the-public-key': {
      const secret = new TextEncoder().encode(keys.trusted.publicKeyPem);
      return `Bearer ${await new SignJWT(good).setProtectedHeader({ alg: 'HS256', kid: keys.trusted.kid }).sign(secret)}`;
    }
    case 'expired':
      return `Bearer ${await sign(keys.trusted, { ...STAFF, iat: now - 100_000, nbf: now - 100_000, exp: now - 31 - c.n })}`;
    case 'not-yet-valid':
      return `Bearer ${await sign(keys.trusted, { ...STAFF, nbf: now + 31 + c.n })}`;
    case 'wrong-issuer':
      return `Bearer ${await sign(keys.trusted, { ...STAFF, iss: `${ISSUER}${c.text}x` })}`;
    case 'wrong-audience':
      return `Bearer ${await sign(keys.trusted, { ...STAFF, aud: `${AUDIENCE}${c.text}x` })}`;
    case 'unknown-kid':
      return `Bearer ${await sign(keys.unknownKid, STAFF)}`;
    case 'other-key-same-kid':
      return `Bearer ${await sign(keys.sameKid, STAFF)}`;
    case 'tampered-payload': {
      const [h, , s] = (await sign(keys.trusted, { sub: 'customer', scope: 'orders:read' })).split('.') as [string, string, string];
      return `Bearer ${h}.${b64({ ...good, sub: `customer${c.text}` })}.${s}`;
    }
    case 'tampered-signature':
      return `Bearer ${await tamperedSignature(keys, c)}`;
    case 'oversized':
      return `Bearer ${await sign(keys.trusted, { ...STAFF, padding: 'x'.repeat(8 * 1024 + c.n) })}`;
    case 'garbage':
      return `Bearer ${c.text}`;
    case 'not-bearer': {
      const token = await sign(keys.trusted, STAFF);
      return [undefined, token, `Basic ${token}`, `Token ${token}`, 'Bearer', `Bearer  ${token}`, `Bearer ${token} x`][c.n % 7];
    }
    case 'no-exp':
      return `Bearer ${await sign(keys.trusted, { ...STAFF, exp: undefined })}`;
    case 'no-sub':
      return `Bearer ${await sign(keys.trusted, { ...STAFF, sub: undefined })}`;
    case 'customer-id-not-a-uuid':
      return `Bearer ${await sign(keys.trusted, { ...STAFF, customer_id: `c-${c.text}` })}`;
  }
}

const caseArbitrary = fc.record({
  kind: fc.constantFrom(...KINDS),
  n: fc.nat({ max: 10_000 }),
  text: fc.string({ unit: fc.constantFrom(...ALPHABET.split('')), minLength: 1, maxLength: 40 }),
  route: fc.nat({ max: 5 }),
});

async function counts(system: TestSystem): Promise<Record<string, number>> {
  const [row] = await sql<Record<string, string>>(
    system,
    `select (select count(*) from ordering.orders) as orders,
            (select count(*) from customers.customers) as customers,
            (select count(*) from ordering.idempotency_keys) as idempotency_keys,
            (select count(*) from ordering.outbox) + (select count(*) from customers.outbox) as outbox`,
  );
  return Object.fromEntries(Object.entries(row!).map(([k, v]) => [k, Number(v)]));
}

function routes(customerId: string, orderId: string) {
  return [
    {
      method: 'POST',
      url: '/orders',
      payload: { customerId, total: { amount: 100, currency: 'USD' } },
      headers: { 'idempotency-key': 'k' },
    },
    { method: 'POST', url: '/customers', payload: { name: 'Mallory', creditLimit: { amount: 1, currency: 'USD' } } },
    { method: 'POST', url: `/orders/${orderId}/cancel` },
    { method: 'GET', url: '/orders' },
    { method: 'GET', url: `/customers/${customerId}` },
    { method: 'POST', url: '/admin/dead-letters/redrive', payload: { all: true } },
  ] as const;
}

describe('bad bearer tokens', () => {
  it('2,000 generated bad tokens: every one 401 with a Bearer challenge, no row written', { timeout: 120_000 }, async () => {
    const keys: Keys = { trusted: await testIssuer('key-1'), unknownKid: await testIssuer('key-9'), sameKid: await testIssuer('key-1') };
    const system = await start({ env: { EVENT_BUS: 'memory', ...jwtEnv(keys.trusted) }, consume: false, jobs: false });
    const staff = bearer(await sign(keys.trusted, STAFF));
    const created = await system.app.inject({
      method: 'POST',
      url: '/customers',
      headers: staff,
      payload: { name: 'Ada', creditLimit: { amount: 10_000, currency: 'USD' } },
    });
    expect(created.statusCode).toBe(201);
    const customerId = (created.json() as { id: string }).id;
    const placed = await system.app.inject({
      method: 'POST',
      url: '/orders',
      headers: staff,
      payload: { customerId, total: { amount: 100, currency: 'USD' } },
    });
    expect(placed.statusCode).toBe(202);
    const before = await counts(system);
    const cases = fc.sample(caseArbitrary, { numRuns: 2_100, seed: 20261204 });
    const seen = new Map<Kind, number>();
    for (const c of cases) {
      const route = routes(customerId, (placed.json() as { id: string }).id)[c.route % 6]!;
      const header = await authorization(keys, c);
      const res = await system.app.inject({
        method: route.method,
        url: route.url,
        ...('payload' in route ? { payload: route.payload } : {}),
        headers: { ...('headers' in route ? route.headers : {}), ...(header === undefined ? {} : { authorization: header }) },
      });
      const summary = { kind: c.kind, route: `${route.method} ${route.url}`, status: res.statusCode };
      expect(summary).toEqual({ ...summary, status: 401 });
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      const challenge = String(res.headers['www-authenticate']);
      expect(challenge).toMatch(/^Bearer realm="saga-api"/);
      const body = res.json() as { code: string; detail: string };
      if (header === undefined) expect(body.code).toBe('UNAUTHENTICATED');
      else expect([c.kind, challenge, body.code]).toEqual([c.kind, 'Bearer realm="saga-api", error="invalid_token"', 'INVALID_TOKEN']);
      // Which check failed stays in the log: the caller learns only RFC 6750's error code.
      expect(body.detail).not.toMatch(/expired|signature|issuer|audience|kid|alg/i);
      seen.set(c.kind, (seen.get(c.kind) ?? 0) + 1);
    }
    expect(await counts(system)).toEqual(before);
    expect([...seen.keys()].sort()).toEqual([...KINDS].sort());
    expect([...seen.values()].reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2_000);
    // The same token, well made, is accepted: the refusals above are the tokens' doing.
    expect((await system.app.inject({ method: 'GET', url: '/orders', headers: staff })).statusCode).toBe(200);
  });
});
