import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { loadConfig } from '../../src/shared/infrastructure/config/config.js';
import type { ApiSecurity } from '../../src/shared/infrastructure/http/security/api-security.js';
import { apiSecurityFrom } from '../../src/shared/infrastructure/http/security/security-config.js';

export const ISSUER = 'https://issuer.test/';
export const AUDIENCE = 'saga-api-test';

/** An issuer made in the test: its ES256 key pair, its public key as PEM and as a JWKS entry. */
export interface TestIssuer {
  readonly privateKey: CryptoKey;
  readonly publicKeyPem: string;
  readonly jwk: JWK;
  readonly kid: string;
}

export async function testIssuer(kid = 'test-key-1'): Promise<TestIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return {
    privateKey,
    publicKeyPem: await exportSPKI(publicKey),
    jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' },
    kid,
  };
}

export interface Claims extends JWTPayload {
  scope?: string;
  customer_id?: string;
}

/** A good token by default: `overrides` changes or (undefined) removes claims. */
export function sign(issuer: TestIssuer, claims: Claims, options: { kid?: string; expiresInS?: number } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: Claims = { iss: ISSUER, aud: AUDIENCE, iat: now, nbf: now, exp: now + (options.expiresInS ?? 600), ...claims };
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: options.kid ?? issuer.kid, typ: 'at+jwt' }).sign(issuer.privateKey);
}

/** The configuration of an API that trusts `issuer` (AUTH_MODE=jwt with its PEM key) plus `env`. */
export function jwtEnv(issuer: TestIssuer, env: Record<string, string> = {}): Record<string, string> {
  return { AUTH_MODE: 'jwt', AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: AUDIENCE, AUTH_PUBLIC_KEY: issuer.publicKeyPem, ...env };
}

export function jwtSecurity(issuer: TestIssuer, env: Record<string, string> = {}): ApiSecurity {
  return apiSecurityFrom(loadConfig({ ...process.env, ...jwtEnv(issuer, env) }));
}

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
