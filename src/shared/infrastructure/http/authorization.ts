import type { Principal } from './route-config.js';

/**
 * A caller who holds the route's scope but not the right to this object (a customer naming another
 * customer): 403 with `code`. Where even the object's existence is not the caller's business, a
 * route answers 404 instead (the query's `ownedBy`).
 */
export class AccessDeniedError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'AccessDeniedError';
  }
}

/** The customer whose objects alone the caller may see and change; undefined for staff (every customer). */
export function ownedBy(principal: Principal): { ownedBy: string } | Record<string, never> {
  return principal.customerId === null ? {} : { ownedBy: principal.customerId };
}

/** Refuses (403 FORBIDDEN_CUSTOMER) a caller acting for one customer who names another. */
export function assertActsFor(principal: Principal, customerId: string): void {
  if (principal.customerId !== null && principal.customerId !== customerId.toLowerCase()) {
    throw new AccessDeniedError('FORBIDDEN_CUSTOMER', 'This token acts for another customer');
  }
}
