import '../stop-signal.js';
import { orderModule } from '../../../modules/order/order.module.js';
import { runUseCaseTask } from '../task-runner.js';

/** ECS task entrypoint of `order.record-credit-release`: `node dist/tasks/order/record-credit-release.task.js` (written from this file by `npm run build`). */
await runUseCaseTask(orderModule, 'order.record-credit-release');
