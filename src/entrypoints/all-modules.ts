import { customerInbox } from '../modules/customer/contract/index.js';
import { customerModule } from '../modules/customer/customer.module.js';
import { orderInbox } from '../modules/order/contract/index.js';
import { orderModule } from '../modules/order/order.module.js';

/** Every module of the monolith; add a new module here (and its inbox below). */
export const ALL_MODULES = [orderModule, customerModule] as const;
export const ALL_INBOXES = [orderInbox, customerInbox] as const;
