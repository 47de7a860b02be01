import '../stop-signal.js';
import { customerModule } from '../../../modules/customer/customer.module.js';
import { runUseCaseTask } from '../task-runner.js';

/** ECS task entrypoint of `customer.reserve-credit`: `node dist/tasks/customer/reserve-credit.task.js` (written from this file by `npm run build`). */
await runUseCaseTask(customerModule, 'customer.reserve-credit');
