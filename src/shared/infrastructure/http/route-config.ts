/**
 * Route options and request state the HTTP host (src/entrypoints/http/) acts on. A module's route
 * sets them in its `config` and reads `request.principal`; this file is what both sides agree on.
 */
declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route starts a saga: refused with 503 OVERLOADED while the consumers lag, and rate-limited more strictly. */
    startsSaga?: boolean;
    /** Who may call the route. Every route declares it: the host refuses to register one that does not. */
    access?: RouteAccess;
    /**
     * A health probe (the load balancer's, the orchestrator's): never authenticated, rate-limited or
     * bounded per client, so that no caller can make the service look unhealthy.
     */
    probe?: boolean;
    /** A page for browsers (the operator console): a caller without credentials is sent to sign in, when sign-in is on. */
    page?: boolean;
  }
  interface FastifyRequest {
    /** Who is calling, set by the host before the route runs (AUTH_MODE=off: the anonymous developer, who may do everything). */
    principal: Principal;
  }
}

/** The scopes a token can carry (docs/security.md has what each allows). */
export const SCOPES = ['orders:read', 'orders:write', 'customers:read', 'customers:write', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** `public`: anyone, without a token; otherwise a token holding at least one of the scopes. */
export type RouteAccess = 'public' | { readonly anyScope: readonly Scope[] };

export interface Principal {
  /** The token's subject (`sub`), `anonymous` with AUTH_MODE=off, `break-glass` for ADMIN_TOKEN. */
  readonly subject: string;
  /**
   * Stable and opaque: issuer and subject together, so two issuers' equal subjects stay apart.
   * What an Idempotency-Key and a rate limit are scoped to.
   */
  readonly id: string;
  readonly scopes: ReadonlySet<string>;
  /** The customer the caller acts for (the token's `customer_id`); null for staff, who act for any. */
  readonly customerId: string | null;
}

/** `config` of a route anyone may call. */
export const PUBLIC = { access: 'public' } as const;

/** `config` of a health probe: public, and outside every limit. */
export const PROBE = { access: 'public', probe: true } as const;

/** `config` of a route that needs a token with one of `scopes`. */
export function requires(...scopes: [Scope, ...Scope[]]): { readonly access: RouteAccess } {
  return { access: { anyScope: scopes } };
}

/** `config` of a route that starts a saga. */
export const STARTS_SAGA = { startsSaga: true } as const;
