// The Customer module's task bundle entry: `npm run build` bundles it (scripts/bundle-tasks.ts) and writes
// one container script per use case its contract's inbox routes, dist/tasks/customer/<use-case>.task.js.
import '../stop-signal.js';
export { customerModule as module } from '../../../modules/customer/customer.module.js';
export { ALL_INBOXES as inboxes } from '../../composition/inboxes.js';
export { runUseCaseTask } from '../use-case-task.js';
