import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEPLOY_DIR, generateTaskDefinitions, staleTaskDefinitions, taskEntrypointOf } from '../../src/dev/deploy/ecs-task-definitions.js';
import { ALL_INBOXES } from '../../src/entrypoints/composition/inboxes.js';
import { ALL_MODULES } from '../../src/entrypoints/composition/all-modules.js';
import { bundleTasks } from '../../scripts/bundle-tasks.js';

const useCases = [...new Set(ALL_INBOXES.flatMap((i) => i.routes.map((r) => r.useCase)))].sort();

describe('one ECS task per use case', () => {
  it('every module is routed and every routed use case belongs to a hosted module', () => {
    expect(ALL_INBOXES.map((i) => i.module).sort()).toEqual(ALL_MODULES.map((m) => m.name).sort());
  });

  it.each(useCases)('%s has a task script, written by the build from its route, that runs exactly that use case', (useCase) => {
    // The build writes dist/tasks/<module>/<use-case>.task.js for every routed use case: a route is declared once, in the contract.
    const script = taskEntrypointOf(useCase);
    expect(existsSync(script), `${script} is missing: run npm run build`).toBe(true);
    const text = readFileSync(script, 'utf8');
    expect(text).toContain(`await runUseCaseTask(module, '${useCase}', inboxes);`);
    expect(text).toContain("loadTaskBundle(new URL('./module.cjs', import.meta.url))");
  });

  it.each(ALL_INBOXES.map((i) => i.module))('the %s module has one bundle entry that installs the stop-signal handler first', (module) => {
    const source = `src/entrypoints/tasks/${module}/${module}.tasks.ts`;
    const statements = readFileSync(source, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '' && !line.startsWith('//'));
    // The stop-signal handler must be installed before the slow imports evaluate.
    expect(statements[0]).toBe("import '../stop-signal.js';");
    expect(statements).toContain(`export { ${module}Module as module } from '../../../modules/${module}/${module}.module.js';`);
    // ... and routes what the task writes with the composition's inboxes, the one list the composition root holds.
    expect(statements).toContain("export { ALL_INBOXES as inboxes } from '../../composition/inboxes.js';");
  });

  it('a bundle entry with anything but its four statements fails the build (the check bites)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'task-entry-'));
    try {
      const [inbox] = ALL_INBOXES;
      const module = inbox!.module;
      const source = join(dir, `${module}.tasks.ts`);
      const entry = readFileSync(`src/entrypoints/tasks/${module}/${module}.tasks.ts`, 'utf8');
      writeFileSync(source, `${entry}\nconsole.log('startup code');\n`);
      await expect(
        bundleTasks({ inboxes: [inbox!], entryOf: () => ({ entry: source, source }), outDir: join(dir, 'out') }),
      ).rejects.toThrow('must be exactly these statements, from which its bundle is written');
      writeFileSync(source, entry.replace(/^export \{ ALL_INBOXES as inboxes \}.*$/m, ''));
      await expect(
        bundleTasks({ inboxes: [inbox!], entryOf: () => ({ entry: source, source }), outDir: join(dir, 'out') }),
      ).rejects.toThrow('must be exactly these statements');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('no use case keeps a hand-written task file beside its route', () => {
    const handWritten = readdirSync('src/entrypoints/tasks', { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.task.ts'));
    expect(handWritten).toEqual([]);
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
