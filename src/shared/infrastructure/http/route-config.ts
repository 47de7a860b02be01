import type { ScopeDeclarations, ScopeOf } from '../../contract/scopes.js';

/**
 * Route options and request state the HTTP host (src/shared/infrastructure/http/) acts on. A module's route
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

/**
 * The platform's own scope: the operator routes (/admin, the console) and GET /metrics. Every
 * other scope is a module's, declared in its contract and collected from the hosted modules.
 */
export const PLATFORM_SCOPES = {
  admin: { description: 'The operator routes (/admin, the operator console) and GET /metrics' },
} as const satisfies ScopeDeclarations;

/** `public`: anyone, without a token; otherwise a token holding at least one of the scopes. */
export type RouteAccess = 'public' | { readonly anyScope: readonly string[] };

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

/** The access objects `scopedAccess` made: their scopes were checked against contracts' declarations then. */
const DECLARED_ACCESS = new WeakSet<object>();

/**
 * `requires(...)` for routes whose scopes are declared in `declarations` (a module's own, and those
 * of other modules' contracts it accepts): `config: requires('orders:read')`, a scope none of
 * them declares a compile error.
 */
export function scopedAccess<const D extends readonly ScopeDeclarations[]>(
  ...declarations: D
): (...scopes: [ScopeOf<D[number]>, ...ScopeOf<D[number]>[]]) => { readonly access: RouteAccess } {
  return (...scopes) => {
    const undeclared = scopes.filter((scope) => !declarations.some((d) => Object.hasOwn(d, scope)));
    if (undeclared.length > 0) throw new Error(`scope ${undeclared.join(', ')} is not declared: declare it in the module's contract`);
    const access = { anyScope: scopes };
    DECLARED_ACCESS.add(access);
    return { access };
  };
}

/**
 * Whether a route's access was made by `scopedAccess`, from scopes a contract declares (possibly
 * the contract of a module this process does not host, as a route accepting another module's scope).
 */
export function isDeclaredAccess(access: RouteAccess): boolean {
  return access !== 'public' && DECLARED_ACCESS.has(access);
}

/** `config` of a platform route that needs a token with the platform's scope. */
export const requires = scopedAccess(PLATFORM_SCOPES);

/** `config` of a route that starts a saga. */
export const STARTS_SAGA = { startsSaga: true } as const;
