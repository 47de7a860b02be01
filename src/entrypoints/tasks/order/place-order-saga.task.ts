import '../stop-signal.js';
import { orderModule } from '../../../modules/order/order.module.js';
import { runUseCaseTask } from '../task-runner.js';

/** ECS task entrypoint of `order.place-order-saga`: `node dist/tasks/order/place-order-saga.task.js` (written from this file by `npm run build`). */
await runUseCaseTask(orderModule, 'order.place-order-saga');
