export * from './order.inbox.js';
export * from './order.messages.js';
export * from './order.scopes.js';
