import '../stop-signal.js';
import { orderModule } from '../../../modules/order/order.module.js';
import { runUseCaseTask } from '../task-runner.js';

/** ECS task entrypoint of `order.reject-order`: `node dist/entrypoints/tasks/order/reject-order.task.js`. */
await runUseCaseTask(orderModule, 'order.reject-order');
