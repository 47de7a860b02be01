export * from './customer-repositories.js';
export * from './customer-testbed.js';
export * from './fixed-clock.js';
export * from './in-memory-database.js';
export * from './in-memory-inbox.js';
export * from './order-repositories.js';
export * from './order-testbed.js';
