import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { authenticatorFrom, authMode, trustProxyFrom } from '../../../../src/entrypoints/http/security/security-config.js';
import { ConfigError, loadConfig } from '../../../../src/shared/infrastructure/config/config.js';

function pem(type: 'ec' | 'rsa' | 'ed25519', namedCurve = 'P-256'): string {
  const spki = { type: 'spki', format: 'pem' } as const;
  if (type === 'ec') return generateKeyPairSync('ec', { namedCurve }).publicKey.export(spki) as string;
  if (type === 'rsa') return generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export(spki) as string;
  return generateKeyPairSync('ed25519').publicKey.export(spki) as string;
}

function problemsOf(env: Record<string, string>): string[] {
  try {
    authenticatorFrom(loadConfig(env));
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

describe('AUTH_MODE and the settings it needs', () => {
  it('defaults to jwt in production and off elsewhere', () => {
    expect(authMode(loadConfig({ NODE_ENV: 'production' }))).toBe('jwt');
    expect(authMode(loadConfig({ NODE_ENV: 'development' }))).toBe('off');
    expect(authMode(loadConfig({ NODE_ENV: 'test' }))).toBe('off');
  });

  it('refuses production without a complete JWT configuration, naming every missing variable', () => {
    expect(problemsOf({ NODE_ENV: 'production' })).toEqual([
      'AUTH_ISSUER: required with AUTH_MODE=jwt (the `iss` every token must carry)',
      'AUTH_AUDIENCE: required with AUTH_MODE=jwt (the `aud` every token must carry)',
      'AUTH_JWKS_URL or AUTH_PUBLIC_KEY: one is required with AUTH_MODE=jwt (where the issuer publishes its keys)',
    ]);
    expect(problemsOf({ NODE_ENV: 'production', AUTH_ISSUER: 'i', AUTH_AUDIENCE: 'a' })).toHaveLength(1);
  });

  it('refuses AUTH_MODE=off in production, and allows it elsewhere', () => {
    expect(problemsOf({ NODE_ENV: 'production', AUTH_MODE: 'off' })).toEqual(['AUTH_MODE: off is refused with NODE_ENV=production']);
    expect(problemsOf({ NODE_ENV: 'development', AUTH_MODE: 'off' })).toEqual([]);
  });

  it('refuses both key sources at once, and keys it cannot verify with', () => {
    const base = { AUTH_MODE: 'jwt', AUTH_ISSUER: 'i', AUTH_AUDIENCE: 'a' };
    expect(problemsOf({ ...base, AUTH_JWKS_URL: 'https://issuer/jwks', AUTH_PUBLIC_KEY: pem('ec') })).toContain(
      'AUTH_JWKS_URL, AUTH_PUBLIC_KEY: set one, not both',
    );
    expect(problemsOf({ ...base, AUTH_PUBLIC_KEY: pem('ec', 'P-384') })[0]).toMatch(/^AUTH_PUBLIC_KEY: /);
    expect(problemsOf({ ...base, AUTH_PUBLIC_KEY: 'not a key' })[0]).toMatch(/^AUTH_PUBLIC_KEY: /);
    for (const key of [pem('ec'), pem('rsa'), pem('ed25519')]) expect(problemsOf({ ...base, AUTH_PUBLIC_KEY: key })).toEqual([]);
    // A key in one line of an environment file, with literal \n.
    expect(problemsOf({ ...base, AUTH_PUBLIC_KEY: pem('ec').replaceAll('\n', '\\n') })).toEqual([]);
  });

  it('reads TRUST_PROXY as Fastify takes it', () => {
    expect(trustProxyFrom('false')).toBe(false);
    expect(trustProxyFrom('true')).toBe(true);
    expect(trustProxyFrom('1')).toBe(1);
    expect(trustProxyFrom('10.0.0.0/8, 172.16.0.0/12')).toEqual(['10.0.0.0/8', '172.16.0.0/12']);
  });

  it('refuses a headers timeout longer than the request timeout', () => {
    expect(() => loadConfig({ HTTP_HEADERS_TIMEOUT_MS: '40000', HTTP_REQUEST_TIMEOUT_MS: '30000' })).toThrow(/HTTP_HEADERS_TIMEOUT_MS/);
  });
});
