import { readFileSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import type { ModuleInbox } from '../../shared/contract/routing.js';
import type { ModuleDefinition } from '../../shared/infrastructure/composition/module-definition.js';
import type { runUseCaseTask } from './use-case-task.js';

/**
 * What a module's task bundle (`dist/tasks/<module>/module.cjs`, written by
 * scripts/bundle-tasks.ts) exports: the stop-signal handler is installed first when it loads.
 */
export interface TaskBundle {
  readonly module: ModuleDefinition;
  /** Every module's inbox of the composition the bundle was built from: where what the task writes goes. */
  readonly inboxes: readonly ModuleInbox[];
  readonly runUseCaseTask: typeof runUseCaseTask;
}

interface CompiledBundle {
  readonly script: vm.Script;
  readonly file: string;
  readonly cacheFile: string;
  readonly cache: 'accepted' | 'rejected' | 'missing';
}

/**
 * The bundle compiled with its V8 code cache (`<bundle>.cache`, written at build time by the same
 * Node), so that V8 neither parses nor compiles again what evaluating the bundle ran at build
 * time. Without a cache, or with one this Node rejects (another V8 version), it compiles as usual.
 */
function compile(url: URL): CompiledBundle {
  const file = fileURLToPath(url);
  const cacheFile = `${file}.cache`;
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(Module.wrap(readFileSync(file, 'utf8')), {
    filename: file,
    ...(cachedData ? { cachedData } : {}),
    // import() inside the bundle (node: built-ins, packages left out of it) works as in any module.
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const cache = cachedData === undefined ? 'missing' : script.cachedDataRejected ? 'rejected' : 'accepted';
  return { script, file, cacheFile, cache };
}

/** Evaluates a CommonJS bundle the way Node's own loader would, with `require` resolving from its directory. */
function evaluate({ script, file }: CompiledBundle): TaskBundle {
  const wrapper = script.runInThisContext() as (
    exports: object,
    require: NodeJS.Require,
    module: { exports: object },
    filename: string,
    dirname: string,
  ) => void;
  const module = { exports: {} };
  wrapper.call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  return module.exports as TaskBundle;
}

/**
 * `--help` (or `-h`) on a task's container command: its usage on stdout and exit 0, before the
 * bundle loads, so nothing connects or runs. (No import: this file is what every task loads first.)
 */
export function exitWithTaskHelpIfAsked(useCase: string, argv: readonly string[] = process.argv.slice(2)): void {
  if (!argv.includes('--help') && !argv.includes('-h')) return;
  process.stdout.write(
    `usage: ${basename(process.argv[1] ?? 'task.js')}\n` +
      `  the ECS task of the use case ${useCase}: drains its due deliveries, relays what it wrote, and exits 0\n` +
      '  when idle for TASK_IDLE_GRACE_MS. Needs DATABASE_URL; started by RunTask (docs/ecs.md).\n' +
      '  Exits 78 on a refused setting, 75 when PostgreSQL stayed unreachable.\n',
  );
  process.exit(0);
}

/** Loads a module's task bundle; a task entrypoint (`dist/tasks/<module>/<use-case>.task.js`) then runs its use case. */
export function loadTaskBundle(url: URL): TaskBundle {
  const compiled = compile(url);
  if (compiled.cache === 'rejected') {
    // Still correct, only slower: worth a line, since it means the image was built with another Node.
    process.stderr.write(
      `${JSON.stringify({ level: 40, time: new Date().toISOString(), bundle: compiled.file, msg: 'code cache rejected by this Node: compiling the task bundle' })}\n`,
    );
  }
  return evaluate(compiled);
}

/**
 * Build step: evaluates the bundle (loading its modules, which starts nothing) and writes the code
 * cache of everything V8 compiled meanwhile.
 */
export function writeTaskBundleCache(url: URL): void {
  const compiled = compile(url);
  evaluate(compiled);
  writeFileSync(compiled.cacheFile, compiled.script.createCachedData());
}

/** Build check: whether this Node accepts the bundle's code cache. */
export function taskBundleCacheState(url: URL): CompiledBundle['cache'] {
  return compile(url).cache;
}
