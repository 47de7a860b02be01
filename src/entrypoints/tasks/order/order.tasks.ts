// The Order module's task bundle entry: `npm run build` bundles it (scripts/bundle-tasks.ts) and writes
// one container script per use case its contract's inbox routes, dist/tasks/order/<use-case>.task.js.
import '../stop-signal.js';
export { orderModule as module } from '../../../modules/order/order.module.js';
export { ALL_INBOXES as inboxes } from '../../composition/inboxes.js';
export { runUseCaseTask } from '../use-case-task.js';
