export * from './customer.inbox.js';
export * from './customer.messages.js';
export * from './customer.scopes.js';
