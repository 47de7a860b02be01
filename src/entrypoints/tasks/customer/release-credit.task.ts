import '../stop-signal.js';
import { customerModule } from '../../../modules/customer/customer.module.js';
import { runUseCaseTask } from '../task-runner.js';

/** ECS task entrypoint of `customer.release-credit`: `node dist/tasks/customer/release-credit.task.js` (written from this file by `npm run build`). */
await runUseCaseTask(customerModule, 'customer.release-credit');
