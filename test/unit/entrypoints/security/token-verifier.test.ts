import { describe, expect, it } from 'vitest';
import { InvalidTokenError, TokenVerifier } from '../../../../src/shared/infrastructure/http/security/token-verifier.js';
import { AUDIENCE, ISSUER, sign, testIssuer } from '../../../support/tokens.js';

describe('TokenVerifier', () => {
  it('maps the claims to a principal: subject, scopes, customer; an opaque id per issuer and subject', async () => {
    const issuer = await testIssuer();
    const verifier = new TokenVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      keys: { publicKeyPem: issuer.publicKeyPem },
      clockToleranceS: 30,
      cacheSize: 10,
    });
    const customer = '01A217BD-4A94-717B-8065-A430E3E8BE76';
    const p = await verifier.verify(await sign(issuer, { sub: 'alice', scope: 'orders:read  orders:write', customer_id: customer }));
    expect(p.subject).toBe('alice');
    expect([...p.scopes]).toEqual(['orders:read', 'orders:write']);
    expect(p.customerId).toBe(customer.toLowerCase());
    expect(p.id).toMatch(/^[\w-]{22}$/);
    expect(p.id).not.toContain('alice');
    const other = new TokenVerifier({
      issuer: `${ISSUER}other`,
      audience: AUDIENCE,
      keys: { publicKeyPem: issuer.publicKeyPem },
      clockToleranceS: 30,
      cacheSize: 0,
    });
    const q = await other.verify(await sign(issuer, { sub: 'alice', iss: `${ISSUER}other` }));
    expect(q.id).not.toBe(p.id);
  });

  it('remembers a verified token until its exp, and no longer', async () => {
    const issuer = await testIssuer();
    let now = Date.now();
    const verifier = new TokenVerifier(
      { issuer: ISSUER, audience: AUDIENCE, keys: { publicKeyPem: issuer.publicKeyPem }, clockToleranceS: 0, cacheSize: 10 },
      () => now,
    );
    const token = await sign(issuer, { sub: 'alice' }, { expiresInS: 60 });
    const first = await verifier.verify(token);
    expect(await verifier.verify(token)).toBe(first); // the same object: from the cache
    now += 61_000;
    await expect(verifier.verify(token)).rejects.toBeInstanceOf(InvalidTokenError);
  });

  it('keeps at most cacheSize tokens, dropping the oldest', async () => {
    const issuer = await testIssuer();
    const verifier = new TokenVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      keys: { publicKeyPem: issuer.publicKeyPem },
      clockToleranceS: 0,
      cacheSize: 2,
    });
    const [a, b, c] = [await sign(issuer, { sub: 'a' }), await sign(issuer, { sub: 'b' }), await sign(issuer, { sub: 'c' })];
    const pa = await verifier.verify(a);
    await verifier.verify(b);
    await verifier.verify(c);
    expect(await verifier.verify(a)).not.toBe(pa); // verified again: it had been dropped
  });
});
