import { customerInbox } from '../../modules/customer/contract/index.js';
import { orderInbox } from '../../modules/order/contract/index.js';

/**
 * Every module's inbox declaration, from the contracts only: a task that hosts one module still
 * routes what it writes to every consumer. Add a new module's inbox here.
 */
export const ALL_INBOXES = [orderInbox, customerInbox] as const;
