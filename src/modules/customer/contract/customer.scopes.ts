import type { ScopeDeclarations } from '../../../shared/contract/scopes.js';

/** The scopes of the Customer module's routes. */
export const customerScopes = {
  'customers:read': { description: "Read customers and their available credit; with `customer_id`, only that customer's" },
  'customers:write': { description: 'Register customers' },
} as const satisfies ScopeDeclarations;
