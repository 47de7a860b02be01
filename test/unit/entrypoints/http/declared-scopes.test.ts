import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { openApiDocument } from '../../../../scripts/openapi.js';
import { ALL_MODULES } from '../../../../src/entrypoints/composition/all-modules.js';
import { refuseUndeclaredScopes, scopeDeclarationsOf } from '../../../../src/shared/infrastructure/http/declared-scopes.js';
import { OffAuthenticator } from '../../../../src/shared/infrastructure/http/security/authentication.js';
import type { ScopeDeclarations } from '../../../../src/shared/contract/scopes.js';
import { PLATFORM_SCOPES, requires, scopedAccess } from '../../../../src/shared/infrastructure/http/route-config.js';

/** Scopes are declared by the modules (their contracts) and collected by the platform, which names only its own. */
const billing = { 'invoices:read': { description: 'Read invoices' } } as const satisfies ScopeDeclarations;
const shop = { 'carts:write': { description: 'Fill carts', customerToken: true } } as const satisfies ScopeDeclarations;
const moduleScopes = ALL_MODULES.flatMap((m) => Object.keys(m.scopes ?? {}));

describe('scope declarations', () => {
  it('are collected from the modules, after the platform’s own', () => {
    const declared = scopeDeclarationsOf([
      { name: 'billing', scopes: billing },
      { name: 'shop', scopes: shop },
    ]);
    expect(Object.keys(declared)).toEqual([...Object.keys(PLATFORM_SCOPES), 'invoices:read', 'carts:write']);
    expect(moduleScopes.length).toBeGreaterThan(0);
    expect(Object.keys(scopeDeclarationsOf(ALL_MODULES))).toEqual([...Object.keys(PLATFORM_SCOPES), ...moduleScopes]);
  });

  it('refuse a scope two modules claim, one the platform owns, or one that is no scope token', () => {
    expect(() =>
      scopeDeclarationsOf([
        { name: 'billing', scopes: billing },
        { name: 'ledger', scopes: billing },
      ]),
    ).toThrow('scope invoices:read is declared by module billing and by module ledger');
    expect(() => scopeDeclarationsOf([{ name: 'rogue', scopes: { admin: { description: 'x' } } }])).toThrow(
      'scope admin is declared by the platform and by module rogue',
    );
    expect(() => scopeDeclarationsOf([{ name: 'spaced', scopes: { 'read all': { description: 'x' } } }])).toThrow(/not a scope token/);
  });

  it('type the routes: a scope none of the declarations names does not compile, nor run', () => {
    const requiresBilling = scopedAccess(billing, shop);
    expect(requiresBilling('invoices:read', 'carts:write')).toEqual({ access: { anyScope: ['invoices:read', 'carts:write'] } });
    // @ts-expect-error: not declared by billing or shop
    expect(() => requiresBilling('invoices:write')).toThrow("scope invoices:write is not declared: declare it in the module's contract");
    // @ts-expect-error: the platform's `requires` knows the platform's scope only
    expect(() => requires(moduleScopes[0]!)).toThrow(/is not declared/);
    expect(requires('admin')).toEqual({ access: { anyScope: ['admin'] } });
  });

  it('make the host refuse a route that requires a scope no hosted module declares', async () => {
    const app = Fastify();
    refuseUndeclaredScopes(app, scopeDeclarationsOf([{ name: 'billing', scopes: billing }]));
    app.get('/invoices', { config: { access: { anyScope: ['invoices:read'] } } }, async () => []);
    expect(() => app.get('/carts', { config: { access: { anyScope: ['carts:write'] } } }, async () => [])).toThrow(
      'GET /carts requires carts:write, which no hosted module declares',
    );
    // A route typed against another module's contract (its scope checked there) may accept it, hosted or not.
    app.get('/carts/:id', { config: scopedAccess(billing, shop)('carts:write') }, async () => ({}));
    await app.close();
  });

  it('give AUTH_MODE=off’s developer every declared scope (but admin when ADMIN_TOKEN is set)', async () => {
    const declared = Object.keys(scopeDeclarationsOf([{ name: 'billing', scopes: billing }]));
    const request = { headers: {} } as never;
    const open = await new OffAuthenticator(declared).authenticate(request);
    expect(open.kind === 'principal' && [...open.principal.scopes]).toEqual(declared);
    const guarded = await new OffAuthenticator(declared, 'a-break-glass-token-of-length').authenticate(request);
    expect(guarded.kind === 'principal' && [...guarded.principal.scopes]).toEqual(['invoices:read']);
  });

  it('are described in the OpenAPI document, each module’s with the platform’s', async () => {
    const document = (await openApiDocument()) as { components: { securitySchemes: { bearerAuth: { description: string } } } };
    const description = document.components.securitySchemes.bearerAuth.description;
    for (const [scope, d] of Object.entries(scopeDeclarationsOf(ALL_MODULES)))
      expect(description).toContain(`\`${scope}\`: ${d.description}`);
  });
});
