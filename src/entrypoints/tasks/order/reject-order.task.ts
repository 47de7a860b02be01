import '../stop-signal.js';
import { orderModule } from '../../../modules/order/order.module.js';
import { runUseCaseTask } from '../task-runner.js';

/** ECS task entrypoint of `order.reject-order`: `node dist/tasks/order/reject-order.task.js` (written from this file by `npm run build`). */
await runUseCaseTask(orderModule, 'order.reject-order');
