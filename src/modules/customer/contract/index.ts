export * from './customer.inbox.js';
export * from './customer.messages.js';
