import type { FastifyInstance, RouteOptions } from 'fastify';
import { isScopeToken, type ScopeDeclaration, type ScopeDeclarations } from '../../contract/scopes.js';
import type { ModuleDefinition } from '../composition/module-definition.js';
import { isDeclaredAccess, PLATFORM_SCOPES } from './route-config.js';

/**
 * Every scope an API may require: the platform's own and those the modules declare (their
 * contracts' scope declarations, given in their ModuleDefinition). A scope must be a scope token
 * and declared once: two modules claiming one scope is a startup error naming both.
 */
export function scopeDeclarationsOf(modules: readonly Pick<ModuleDefinition, 'name' | 'scopes'>[]): ScopeDeclarations {
  const all: Record<string, ScopeDeclaration> = { ...PLATFORM_SCOPES };
  const owners = new Map(Object.keys(PLATFORM_SCOPES).map((scope) => [scope, 'the platform']));
  for (const m of modules) {
    for (const [scope, declaration] of Object.entries(m.scopes ?? {})) {
      if (!isScopeToken(scope)) {
        throw new Error(`module ${m.name}: scope ${JSON.stringify(scope)} is not a scope token (printable ASCII without space, " or \\)`);
      }
      const owner = owners.get(scope);
      if (owner) throw new Error(`scope ${scope} is declared by ${owner} and by module ${m.name}: a scope has one owner`);
      owners.set(scope, `module ${m.name}`);
      all[scope] = declaration;
    }
  }
  return all;
}

/**
 * Refuses to register a route that requires a scope no contract declares: one whose access was not
 * made by `scopedAccess` (which checks the contracts it is given) and names a scope no hosted module
 * (nor the platform) declares. A token could never be issued knowingly for it.
 */
export function refuseUndeclaredScopes(app: FastifyInstance, declared: ScopeDeclarations): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    const access = route.config?.access;
    if (access === undefined || access === 'public' || isDeclaredAccess(access)) return;
    const undeclared = access.anyScope.filter((scope) => !Object.hasOwn(declared, scope));
    if (undeclared.length > 0) {
      throw new Error(
        `${String(route.method)} ${route.url} requires ${undeclared.join(', ')}, which no hosted module declares: ` +
          "declare it in the module's contract and give it to its ModuleDefinition's scopes",
      );
    }
  });
}

/** The scopes as the OpenAPI document's security scheme describes them: one line each. */
export function describeScopes(declared: ScopeDeclarations): string {
  return Object.entries(declared)
    .map(([scope, d]) => `- \`${scope}\`: ${d.description}`)
    .join('\n');
}
