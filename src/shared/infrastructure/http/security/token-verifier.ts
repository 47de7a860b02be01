import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Principal } from '../route-config.js';

/** Asymmetric only: `none` and every HS* are refused whatever the token's header says (no algorithm confusion). */
export const ALLOWED_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const;

/** A longer Authorization header is refused before any parsing. */
export const MAX_TOKEN_BYTES = 8 * 1024;

export type KeySource =
  { readonly jwksUrl: string; readonly timeoutMs: number; readonly cooldownMs: number } | { readonly publicKeyPem: string };

export interface JwtSettings {
  readonly issuer: string;
  readonly audience: string;
  readonly keys: KeySource;
  readonly clockToleranceS: number;
  /** Verified tokens remembered until they expire; 0: every request verifies its token. */
  readonly cacheSize: number;
}

/** The token is not one this API accepts; which check failed stays in the log, never in the response. */
export class InvalidTokenError extends Error {
  constructor(readonly reason: string) {
    super(`invalid token: ${reason}`);
    this.name = 'InvalidTokenError';
  }
}

/** The keys could not be fetched: the token may be good, so the caller gets 503, not 401. */
export class KeysUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`the issuer's keys could not be fetched: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'KeysUnavailableError';
  }
}

/** The algorithm a PEM key signs with: one per key type, so the header cannot choose another. */
function algorithmOf(key: KeyObject): (typeof ALLOWED_ALGORITHMS)[number] {
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  throw new Error(`AUTH_PUBLIC_KEY: a ${key.asymmetricKeyType ?? 'symmetric'} key; use RSA, EC P-256 or Ed25519`);
}

function keyResolver(source: KeySource): { key: JWTVerifyGetKey | KeyObject; algorithms: string[] } {
  if ('jwksUrl' in source) {
    // jose caches the set, fetches it again for an unknown kid (at most once per cooldown) and bounds each fetch.
    const jwks = createRemoteJWKSet(new URL(source.jwksUrl), {
      timeoutDuration: source.timeoutMs,
      cooldownDuration: source.cooldownMs,
      cacheMaxAge: 10 * 60_000,
    });
    return { key: jwks, algorithms: [...ALLOWED_ALGORITHMS] };
  }
  const key = createPublicKey(source.publicKeyPem);
  return { key, algorithms: [algorithmOf(key)] };
}

/** The JWKS could not be had (timeout, network, a non-200 or unreadable answer), as opposed to a bad token. */
function isFetchFailure(error: unknown): boolean {
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) return true;
  if (!(error instanceof errors.JOSEError)) return error instanceof Error;
  return /JSON Web Key Set HTTP response/.test(error.message);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The principal a verified token names: `sub` is required, `scope` space-separated, `customer_id` a UUID. */
export function principalOf(payload: JWTPayload, issuer: string): Principal {
  const { sub, scope } = payload;
  const customerId = payload['customer_id'];
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > 255) throw new InvalidTokenError('sub missing or invalid');
  if (scope !== undefined && typeof scope !== 'string') throw new InvalidTokenError('scope is not a string');
  if (customerId !== undefined && (typeof customerId !== 'string' || !UUID.test(customerId))) {
    throw new InvalidTokenError('customer_id is not a UUID');
  }
  return {
    subject: sub,
    id: createHash('sha256').update(`${issuer}\n${sub}`).digest('base64url').slice(0, 22),
    scopes: new Set((scope ?? '').split(' ').filter((s) => s.length > 0)),
    customerId: customerId === undefined ? null : customerId.toLowerCase(),
  };
}

/**
 * Verifies bearer tokens with jose: signature with an allowed asymmetric algorithm, `iss`, `aud`,
 * `exp` (required) and `nbf` (when present), with AUTH_CLOCK_TOLERANCE_S of leeway. A verified
 * token is remembered until its `exp`, so a client sending the same token verifies it once.
 */
export class TokenVerifier {
  private readonly resolver: ReturnType<typeof keyResolver>;
  private readonly verified = new Map<string, { readonly principal: Principal; readonly expiresAtMs: number }>();

  constructor(
    private readonly settings: JwtSettings,
    private readonly now: () => number = Date.now,
  ) {
    this.resolver = keyResolver(settings.keys);
  }

  async verify(token: string): Promise<Principal> {
    if (token.length > MAX_TOKEN_BYTES) throw new InvalidTokenError('too long');
    const cached = this.verified.get(token);
    if (cached && this.now() < cached.expiresAtMs) return cached.principal;
    if (cached) this.verified.delete(token);
    const payload = await this.verifySignatureAndClaims(token);
    const principal = principalOf(payload, this.settings.issuer);
    this.remember(token, principal, (payload.exp ?? 0) * 1000);
    return principal;
  }

  private async verifySignatureAndClaims(token: string): Promise<JWTPayload> {
    try {
      const options = {
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        algorithms: this.resolver.algorithms,
        clockTolerance: this.settings.clockToleranceS,
        requiredClaims: ['exp', 'iss', 'aud', 'sub'],
        currentDate: new Date(this.now()),
      };
      const { key } = this.resolver;
      const result = typeof key === 'function' ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options);
      return result.payload;
    } catch (error) {
      if ('jwksUrl' in this.settings.keys && isFetchFailure(error)) throw new KeysUnavailableError(error);
      throw new InvalidTokenError(error instanceof errors.JOSEError ? error.code : 'unreadable');
    }
  }

  private remember(token: string, principal: Principal, expiresAtMs: number): void {
    if (this.settings.cacheSize === 0) return;
    if (this.verified.size >= this.settings.cacheSize) {
      // The oldest entry goes first (a Map iterates in insertion order).
      const oldest = this.verified.keys().next().value;
      if (oldest !== undefined) this.verified.delete(oldest);
    }
    this.verified.set(token, { principal, expiresAtMs });
  }
}
