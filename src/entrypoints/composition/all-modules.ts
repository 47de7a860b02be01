import { customerModule } from '../../modules/customer/customer.module.js';
import { orderModule } from '../../modules/order/order.module.js';

export { ALL_INBOXES } from './inboxes.js';

/** Every module of the monolith; add a new module here (and its inbox in composition/inboxes.ts). */
export const ALL_MODULES = [orderModule, customerModule] as const;
