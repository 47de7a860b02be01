export * from './order.inbox.js';
export * from './order.messages.js';
