import '../stop-signal.js';
import { customerModule } from '../../../modules/customer/customer.module.js';
import { runUseCaseTask } from '../task-runner.js';

/** ECS task entrypoint of `customer.reserve-credit`: `node dist/entrypoints/tasks/customer/reserve-credit.task.js`. */
await runUseCaseTask(customerModule, 'customer.reserve-credit');
