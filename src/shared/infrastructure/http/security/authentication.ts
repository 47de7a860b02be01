import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../route-config.js';
import { InvalidTokenError, KeysUnavailableError, MAX_TOKEN_BYTES, TokenVerifier } from './token-verifier.js';

/** AUTH_MODE=off: the developer, who may do everything (holds every scope the API declares); never in production. */
const ANONYMOUS: Principal = { subject: 'anonymous', id: 'anonymous', scopes: new Set(), customerId: null };

/** ADMIN_TOKEN, the break-glass credential: the /admin routes only. */
const BREAK_GLASS: Principal = { subject: 'break-glass', id: 'break-glass', scopes: new Set(['admin']), customerId: null };

/** What the host knows of a request's caller once its Authorization header was read. */
export type Authentication =
  /** `session`: an operator signed in to the console (a cookie, so its unsafe requests need a CSRF token). */
  | { readonly kind: 'principal'; readonly principal: Principal; readonly verified: boolean; readonly session?: true }
  | { readonly kind: 'missing' }
  | { readonly kind: 'invalid'; readonly reason: string }
  | { readonly kind: 'unavailable'; readonly reason: string };

export interface Authenticator {
  readonly mode: 'jwt' | 'off';
  authenticate(request: FastifyRequest): Promise<Authentication>;
  /** A bearer token checked as a request's would be (jwt only): what the console's sign-in accepts. */
  verifyToken?(token: string): Promise<Authentication>;
}

/** RFC 6750 b64token after "Bearer ". */
const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i;

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

function breakGlass(adminToken: string | undefined): (presented: string) => boolean {
  if (!adminToken) return () => false;
  const expected = digest(adminToken);
  // Digests have one length whatever the input: the comparison leaks neither content nor length.
  return (presented) => timingSafeEqual(digest(presented), expected);
}

/**
 * AUTH_MODE=off: every caller is the anonymous developer. With ADMIN_TOKEN set, the /admin routes
 * still want it (as before there were tokens): the anonymous caller lacks `admin` then.
 */
export class OffAuthenticator implements Authenticator {
  readonly mode = 'off';
  private readonly isBreakGlass: (presented: string) => boolean;
  private readonly anonymous: Authentication;
  private readonly everyScope: ReadonlySet<string>;

  /** `declared`: every scope the API's routes may require (the platform's and the hosted modules'). */
  constructor(declared: Iterable<string>, adminToken?: string) {
    this.isBreakGlass = breakGlass(adminToken);
    this.everyScope = new Set(declared);
    const scopes = new Set<string>(this.everyScope);
    if (adminToken) scopes.delete('admin');
    this.anonymous = { kind: 'principal', principal: { ...ANONYMOUS, scopes }, verified: false };
  }

  authenticate(request: FastifyRequest): Promise<Authentication> {
    const token = BEARER.exec(request.headers.authorization ?? '')?.[1];
    if (token !== undefined && this.isBreakGlass(token)) {
      return Promise.resolve({
        kind: 'principal',
        principal: { ...ANONYMOUS, subject: 'break-glass', scopes: this.everyScope },
        verified: false,
      });
    }
    return Promise.resolve(this.anonymous);
  }
}

export class JwtAuthenticator implements Authenticator {
  readonly mode = 'jwt';
  private readonly isBreakGlass: (presented: string) => boolean;

  constructor(
    private readonly verifier: TokenVerifier,
    adminToken?: string,
  ) {
    this.isBreakGlass = breakGlass(adminToken);
  }

  async authenticate(request: FastifyRequest): Promise<Authentication> {
    const header = request.headers.authorization;
    if (header === undefined) return { kind: 'missing' };
    if (header.length > MAX_TOKEN_BYTES + 'Bearer '.length) return { kind: 'invalid', reason: 'too long' };
    const token = BEARER.exec(header)?.[1];
    if (token === undefined) return { kind: 'invalid', reason: 'not a bearer token' };
    if (this.isBreakGlass(token)) return { kind: 'principal', principal: BREAK_GLASS, verified: true };
    return this.verifyToken(token);
  }

  async verifyToken(token: string): Promise<Authentication> {
    try {
      return { kind: 'principal', principal: await this.verifier.verify(token), verified: true };
    } catch (error) {
      if (error instanceof InvalidTokenError) return { kind: 'invalid', reason: error.reason };
      if (error instanceof KeysUnavailableError) return { kind: 'unavailable', reason: error.message };
      throw error;
    }
  }
}
