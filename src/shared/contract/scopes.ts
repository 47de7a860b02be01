/**
 * The token scopes a module's routes may require, each with what it lets a caller do: declared
 * once, in the module's contract (`as const satisfies ScopeDeclarations`), so other modules'
 * routes may accept them too. The platform collects them from the hosted modules: the OpenAPI
 * document describes them, the dev token CLI offers them, and AUTH_MODE=off's developer holds
 * them all; a route that requires a scope no hosted module declares is refused at startup.
 */
export interface ScopeDeclaration {
  /** What a token holding the scope may do (the OpenAPI document lists it). */
  readonly description: string;
  /**
   * A token that acts for one customer (claim `customer_id`: a storefront's) holds it by default
   * (`npm run auth:token -- --customer <id>`).
   */
  readonly customerToken?: boolean;
}

/** Scope name (RFC 6749 scope-token, e.g. `orders:read`) → what it allows. */
export type ScopeDeclarations = Readonly<Record<string, ScopeDeclaration>>;

/** The scope names of one or more declarations (a union of each one's keys). */
export type ScopeOf<D> = D extends ScopeDeclarations ? Extract<keyof D, string> : never;

/** RFC 6749's scope-token: printable ASCII but space, `"` and `\`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

export function isScopeToken(value: string): boolean {
  return SCOPE_TOKEN.test(value);
}
