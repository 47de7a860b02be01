import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';

export type EcsSupport =
  | {
      readonly ok: true;
      readonly taskEntrypoints: readonly string[];
      readonly taskDefinitionsDir: string;
      readonly families: readonly string[];
    }
  | { readonly ok: false; readonly reason: string };

async function taskFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.task.js'))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/**
 * Whether this build can run EVENT_BUS=ecs end to end: the task entrypoints the task definitions
 * run (`*.task.js`, one per use case, under dist/tasks/) and task definitions for the local ECS
 * endpoint. Whether the system itself accepts EVENT_BUS=ecs is found out by starting it.
 */
export async function detectEcs(root: string, taskDefinitionsDir: string): Promise<EcsSupport> {
  const tasks = await taskFiles(join(root, 'dist/tasks'));
  if (tasks.length === 0) {
    return {
      ok: false,
      reason:
        'no bundled task entrypoints in dist/tasks/ (src/entrypoints/tasks/, bundled by npm run build): the ECS adapter is not part of this build',
    };
  }
  const definitions = (await readdir(join(root, taskDefinitionsDir)).catch(() => [] as string[])).filter((f) => f.endsWith('.json'));
  if (definitions.length === 0) {
    return {
      ok: false,
      reason: `no ECS task definitions (*.json) in ${taskDefinitionsDir}/ for the local endpoint; set BENCH_ECS_TASK_DEFINITIONS_DIR`,
    };
  }
  // The generated files are named after their family.
  return {
    ok: true,
    taskEntrypoints: tasks.map((t) => relative(root, t)),
    taskDefinitionsDir,
    families: definitions.map((f) => f.replace(/\.json$/, '')),
  };
}
