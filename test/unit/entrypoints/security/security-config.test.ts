import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import Fastify from 'fastify';
import { apiSecurityFrom, authenticatorFrom, authMode } from '../../../../src/shared/infrastructure/http/security/security-config.js';
import { trustedHopFrom } from '../../../../src/shared/infrastructure/http/security/trusted-hop.js';
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

  it('refuses AUTH_JWKS_URL over plain HTTP in production, except to this machine', () => {
    const jwks = (url: string, NODE_ENV = 'production') => configProblems({ NODE_ENV, AUTH_JWKS_URL: url });
    expect(jwks('http://id.example.com/jwks.json')).toEqual([
      'AUTH_JWKS_URL: http:// is refused with NODE_ENV=production (anyone on the path could swap the signing keys): use https://, or a loopback address',
    ]);
    expect(jwks('http://10.0.0.7/jwks.json')).toHaveLength(1);
    expect(jwks('http://127.0.0.1.example.com/jwks.json')).toHaveLength(1);
    for (const url of ['https://id.example.com/jwks.json', 'http://127.0.0.1:8080/jwks', 'http://localhost/jwks', 'http://[::1]:9/jwks']) {
      expect(jwks(url), url).toEqual([]);
    }
    expect(jwks('http://id.example.com/jwks.json', 'development')).toEqual([]);
  });
});

function configProblems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

/** The client address Fastify gives a request from `peer` carrying `forwardedFor`, under TRUST_PROXY=`trustProxy`. */
async function clientIp(trustProxy: string, peer: string, forwardedFor?: string): Promise<string> {
  const app = Fastify({ trustProxy: trustedHopFrom(loadConfig({ TRUST_PROXY: trustProxy }).TRUST_PROXY) });
  app.get('/', async (request) => request.ip);
  try {
    const res = await app.inject({ url: '/', remoteAddress: peer, headers: forwardedFor ? { 'x-forwarded-for': forwardedFor } : {} });
    return res.body;
  } finally {
    await app.close();
  }
}

describe('TRUST_PROXY', () => {
  it('takes a hop count, a list of addresses and CIDRs, or false; refuses anything else, naming the variable', () => {
    expect(loadConfig({}).TRUST_PROXY).toEqual({ kind: 'none' });
    expect(loadConfig({ TRUST_PROXY: '0' }).TRUST_PROXY).toEqual({ kind: 'none' });
    expect(loadConfig({ TRUST_PROXY: '2' }).TRUST_PROXY).toEqual({ kind: 'hops', hops: 2 });
    expect(loadConfig({ TRUST_PROXY: '10.40.0.0/24, 10.40.1.0/24,fd00::/8, 10.9.8.7, loopback' }).TRUST_PROXY).toEqual({
      kind: 'addresses',
      addresses: ['10.40.0.0/24', '10.40.1.0/24', 'fd00::/8', '10.9.8.7', 'loopback'],
    });
    expect(configProblems({ TRUST_PROXY: '10.40.0.0/33,alb,300.1.1.1' })).toEqual([
      'TRUST_PROXY: "10.40.0.0/33", "alb", "300.1.1.1": not an IP address, a CIDR (e.g. 10.40.0.0/16) or one of loopback, linklocal, uniquelocal',
    ]);
    expect(configProblems({ TRUST_PROXY: '11' })).toEqual(['TRUST_PROXY: a hop count is at most 10']);
  });

  it('refuses true (every hop) in production, and lets it through elsewhere', () => {
    expect(configProblems({ NODE_ENV: 'production', TRUST_PROXY: 'true' })).toEqual([
      "TRUST_PROXY: true is refused with NODE_ENV=production (every client could name its own address in X-Forwarded-For, and so its rate-limit bucket): give the load balancer's subnets or the VPC CIDR (e.g. 10.40.0.0/16), or a hop count",
    ]);
    expect(configProblems({ NODE_ENV: 'development', TRUST_PROXY: 'true' })).toEqual([]);
  });

  it('counts hops: 1 is the address the balancer appended, whatever the client put before it', async () => {
    // Fastify 5 takes the number 1 itself as "trust nothing": the balancer's address (10.40.0.5) for every client.
    expect(await clientIp('1', '10.40.0.5', '6.6.6.6, 203.0.113.7')).toBe('203.0.113.7');
    expect(await clientIp('1', '10.40.0.5')).toBe('10.40.0.5');
    expect(await clientIp('2', '10.40.0.5', '6.6.6.6, 198.51.100.1, 203.0.113.7')).toBe('198.51.100.1');
    expect(await clientIp('false', '10.40.0.5', '203.0.113.7')).toBe('10.40.0.5');
  });

  it('believes X-Forwarded-For only from the CIDRs it names, and only up to the first address outside them', async () => {
    const albSubnets = '10.40.0.0/24,10.40.1.0/24';
    expect(await clientIp(albSubnets, '10.40.1.9', '203.0.113.7')).toBe('203.0.113.7');
    // A forged entry before the balancer's: the balancer's own append wins.
    expect(await clientIp(albSubnets, '10.40.0.5', '10.40.1.77, 203.0.113.7')).toBe('203.0.113.7');
    expect(await clientIp(albSubnets, '10.40.0.5', '198.51.100.1, 203.0.113.7')).toBe('203.0.113.7');
    // A client that reaches the API without the balancer names no one but itself.
    expect(await clientIp(albSubnets, '203.0.113.9', '198.51.100.1')).toBe('203.0.113.9');
    expect(await clientIp(albSubnets, '::ffff:10.40.0.5', '203.0.113.7')).toBe('203.0.113.7');
  });
});

describe('HTTP settings', () => {
  it('refuses a headers timeout longer than the request timeout', () => {
    expect(() => loadConfig({ HTTP_HEADERS_TIMEOUT_MS: '40000', HTTP_REQUEST_TIMEOUT_MS: '30000' })).toThrow(/HTTP_HEADERS_TIMEOUT_MS/);
  });
});

describe('console sign-in settings (CONSOLE_*)', () => {
  const signIn = {
    AUTH_MODE: 'jwt',
    AUTH_ISSUER: 'https://id.example.com/',
    AUTH_AUDIENCE: 'saga-api',
    AUTH_JWKS_URL: 'https://id.example.com/jwks.json',
    CONSOLE_OIDC_CLIENT_ID: 'saga-console',
    CONSOLE_PUBLIC_URL: 'https://api.example.com',
    CONSOLE_SESSION_SECRET: 's'.repeat(32),
  };

  it('go together, with secrets long enough to sign with, an https origin, and openid and admin asked for', () => {
    expect(configProblems(signIn)).toEqual([]);
    expect(configProblems({ ...signIn, CONSOLE_PUBLIC_URL: '', CONSOLE_SESSION_SECRET: '' })).toEqual([
      'CONSOLE_PUBLIC_URL: required with CONSOLE_OIDC_CLIENT_ID (https://host where browsers reach the API)',
      'CONSOLE_SESSION_SECRET: required with CONSOLE_OIDC_CLIENT_ID, each secret at least 32 characters (e.g. `openssl rand -base64 48`)',
    ]);
    expect(configProblems({ ...signIn, CONSOLE_SESSION_SECRET: `${'s'.repeat(32)},short` })).toHaveLength(1);
    expect(configProblems({ ...signIn, CONSOLE_PUBLIC_URL: 'http://api.example.com' })[0]).toMatch(
      /^CONSOLE_PUBLIC_URL: must be a URL with protocol https:/,
    );
    expect(configProblems({ ...signIn, CONSOLE_PUBLIC_URL: 'https://api.example.com/console' })).toEqual([
      'CONSOLE_PUBLIC_URL: give the origin only (https://host[:port]); the console lives at /admin',
    ]);
    expect(configProblems({ ...signIn, CONSOLE_OIDC_SCOPE: 'openid profile' })).toEqual([
      'CONSOLE_OIDC_SCOPE: must include openid and admin',
    ]);
    expect(configProblems({ ...signIn, CONSOLE_OIDC_AUTHORIZATION_PARAMS: 'audience=saga-api&redirect_uri=https://evil.example' })).toEqual(
      ['CONSOLE_OIDC_AUTHORIZATION_PARAMS: redirect_uri are set by the console itself'],
    );
    expect(configProblems({ CONSOLE_SESSION_SECRET: 's'.repeat(40) })).toEqual([
      "CONSOLE_SESSION_SECRET: set without CONSOLE_OIDC_CLIENT_ID, which turns the console's sign-in on",
    ]);
  });

  it('need the API to verify tokens of a provider it can discover', () => {
    const settings = apiSecurityFrom(loadConfig(signIn)).consoleSignIn;
    expect(settings).toMatchObject({ clientId: 'saga-console', publicUrl: 'https://api.example.com', scope: 'openid admin' });
    expect(settings?.issuer.href).toBe('https://id.example.com/');
    const refused = (env: Record<string, string>) => () => apiSecurityFrom(loadConfig({ ...signIn, ...env }));
    expect(refused({ AUTH_MODE: 'off' })).toThrow(/CONSOLE_OIDC_CLIENT_ID: console sign-in needs AUTH_MODE=jwt/);
    expect(refused({ AUTH_ISSUER: 'urn:saga:issuer' })).toThrow(/AUTH_ISSUER: console sign-in discovers the provider/);
    expect(refused({ AUTH_ISSUER: 'http://id.example.com/' })).toThrow(/AUTH_ISSUER/);
    expect(refused({ AUTH_ISSUER: 'http://localhost:9000', AUTH_JWKS_URL: 'http://localhost:9000/jwks' })).not.toThrow();
    const { CONSOLE_OIDC_CLIENT_ID: _id, CONSOLE_PUBLIC_URL: _url, CONSOLE_SESSION_SECRET: _secret, ...apiOnly } = signIn;
    expect(apiSecurityFrom(loadConfig(apiOnly)).consoleSignIn).toBeUndefined();
  });
});
