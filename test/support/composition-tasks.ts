import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { bundleTasks } from '../../scripts/bundle-tasks.js';
import { generateTaskDefinitions } from '../../src/dev/deploy/ecs-task-definitions.js';
import type { ModuleInbox } from '../../src/shared/contract/routing.js';

export interface CompositionTasks {
  /** The task definitions of every use case of the composition, for the local ECS endpoint. */
  readonly taskDefinitionsDir: string;
  dispose(): void;
}

/**
 * The ECS tasks of a composition other than the monolith's (a test's, with a fixture module), built
 * as `npm run build` builds the monolith's: the composition's bundle entries (`entryOf`, the four
 * statements of src/entrypoints/tasks/<m>/<m>.tasks.ts) bundled by scripts/bundle-tasks.ts beside
 * dist/ (its task loader; `npm test` builds it first), and their task definitions generated from
 * the composition's inboxes.
 */
export async function buildCompositionTasks(
  inboxes: readonly ModuleInbox[],
  entryOf: (module: string) => string,
): Promise<CompositionTasks> {
  const dir = resolve('dist', 'compositions', randomBytes(4).toString('hex'));
  const outDir = join(dir, 'tasks');
  await bundleTasks({ inboxes, outDir, entryOf: (m) => ({ entry: entryOf(m), source: entryOf(m) }) });
  const taskDefinitionsDir = join(dir, 'ecs');
  mkdirSync(taskDefinitionsDir, { recursive: true });
  const scriptOf = (useCase: string) => {
    const [module, name] = useCase.split('.') as [string, string];
    return join(outDir, module, `${name}.task.js`);
  };
  for (const def of generateTaskDefinitions(inboxes, scriptOf))
    writeFileSync(join(taskDefinitionsDir, `${def.family}.json`), JSON.stringify(def));
  return { taskDefinitionsDir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}
