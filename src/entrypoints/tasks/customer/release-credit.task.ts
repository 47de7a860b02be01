import '../stop-signal.js';
import { customerModule } from '../../../modules/customer/customer.module.js';
import { runUseCaseTask } from '../task-runner.js';

/** ECS task entrypoint of `customer.release-credit`: `node dist/entrypoints/tasks/customer/release-credit.task.js`. */
await runUseCaseTask(customerModule, 'customer.release-credit');
