import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEPLOY_DIR, generateTaskDefinitions, staleTaskDefinitions, taskEntrypointOf } from '../../src/entrypoints/ecs-task-definitions.js';
import { ALL_INBOXES } from '../../src/entrypoints/tasks/inboxes.js';
import { ALL_MODULES } from '../../src/entrypoints/all-modules.js';

const useCases = [...new Set(ALL_INBOXES.flatMap((i) => i.routes.map((r) => r.useCase)))].sort();

describe('one ECS task per use case', () => {
  it('every module is routed and every routed use case belongs to a hosted module', () => {
    expect(ALL_INBOXES.map((i) => i.module).sort()).toEqual(ALL_MODULES.map((m) => m.name).sort());
  });

  it.each(useCases)('%s has a task entrypoint that runs exactly that use case with its own module', (useCase) => {
    // The container runs the bundle of src/entrypoints/tasks/<module>/<use-case>.task.ts.
    const source = taskEntrypointOf(useCase).replace(/^dist\/tasks\//, 'src/entrypoints/tasks/').replace(/\.js$/, '.ts');
    expect(existsSync(source), `${source} is missing`).toBe(true);
    const text = readFileSync(source, 'utf8');
    const [module] = useCase.split('.');
    expect(text).toContain(`runUseCaseTask(${module}Module, '${useCase}')`);
    expect(text).toContain(`/modules/${module}/${module}.module.js'`);
    // The stop-signal handler must be installed before the slow imports evaluate.
    expect(text.split('\n')[0]).toBe("import '../stop-signal.js';");
  });

  it('deploy/ecs holds exactly the generated task definitions', () => {
    expect(staleTaskDefinitions()).toEqual([]);
    const families = generateTaskDefinitions().map((d) => d.family);
    expect(families).toEqual(expect.arrayContaining(useCases.map((u) => u.replace('.', '-'))));
  });

  it('a stale, missing or orphaned definition is reported (the check bites)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecs-defs-'));
    try {
      cpSync(DEPLOY_DIR, dir, { recursive: true });
      writeFileSync(join(dir, 'customer-reserve-credit.json'), '{"family":"customer-reserve-credit"}\n');
      rmSync(join(dir, 'order-approve-order.json'));
      writeFileSync(join(dir, 'order-forgotten.json'), '{}\n');
      expect(staleTaskDefinitions(dir).sort()).toEqual(
        ['customer-reserve-credit.json is stale', 'order-approve-order.json is missing', 'order-forgotten.json has no use case'].sort(),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('task commands run compiled JavaScript with node, never tsx; use-case tasks run their bundle', () => {
    for (const def of generateTaskDefinitions()) {
      const command = (def['containerDefinitions'] as Array<{ command: string[] }>)[0]!.command;
      expect(command[0]).toBe('node');
      expect(command[1]).toMatch(def.family === 'saga-sweeper' ? /^dist\/entrypoints\/.+\.js$/ : /^dist\/tasks\/[^/]+\/[^/]+\.task\.js$/);
    }
  });
});
