import type { ScopeDeclarations } from '../../../shared/contract/scopes.js';

/** The scopes of the Order module's routes; other modules' routes may accept them too. */
export const orderScopes = {
  'orders:read': {
    description: "Read orders and their sagas; with `customer_id`, only that customer's orders (and that customer)",
    customerToken: true,
  },
  'orders:write': {
    description: 'Place and cancel orders; with `customer_id`, only for that customer',
    customerToken: true,
  },
} as const satisfies ScopeDeclarations;
