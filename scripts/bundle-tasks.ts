/**
 * The second half of `npm run build` ([ADR 15](../docs/adr/0015-bundled-task-entrypoints.md)): turns
 * the compiled use-case task entrypoints into what their ECS task definitions run.
 *
 * - `dist/tasks/<module>/module.cjs`: one esbuild bundle per module holding the stop-signal
 *   handler, the module, the composition's inbox list and the task runner (about 1,700 modules
 *   otherwise), with `module.cjs.cache`, the V8 code cache of loading it, written by the Node that
 *   built it.
 * - `dist/tasks/<module>/<use-case>.task.js`: the container command's script, which loads the
 *   bundle with that cache (src/entrypoints/tasks/task-bundle.ts) and runs its use case: one per
 *   use case the module's contract routes (ALL_INBOXES), so a route is declared once, in the
 *   contract. The bundle's entry is `src/entrypoints/tasks/<module>/<module>.tasks.ts`, which must
 *   be exactly the four statements every module's entry is.
 *
 * The composition is a parameter (`bundleTasks({ inboxes, entryOf, outDir })`): a composition
 * root other than the monolith's (a test's, with a module of its own) bundles its tasks the same
 * way, from its own entries.
 *
 * Code reached only through `import()` (the ECS driver, BullMQ, migrations) loads only when used.
 * The build fails when a task would load at start what it must load lazily, when a dependency
 * patched below no longer looks the way the patch expects, or when Node rejects the code cache.
 */
import { execFileSync } from 'node:child_process';
import { builtinModules } from 'node:module';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Metafile, type Plugin } from 'esbuild';
import { ALL_INBOXES } from '../src/entrypoints/composition/inboxes.js';
import type { ModuleInbox } from '../src/shared/contract/routing.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Database drivers knex and MikroORM can load for other dialects: never installed, never loaded
 * with PostgreSQL. Left as run-time requires, which is what they are unbundled.
 */
const OTHER_DIALECT_DRIVERS = [
  'better-sqlite3',
  'libsql',
  'mariadb',
  'mariadb/*',
  'mysql',
  'mysql2',
  'oracledb',
  'pg-native',
  'pg-query-stream',
  // pg's socket for Cloudflare Workers, required only there (an optional dependency the image leaves out).
  'pg-cloudflare',
  'sqlite3',
  'tedious',
];

/**
 * Loaded only by what a task never does in production (BullMQ transport, migrations): required
 * from node_modules if ever used, rather than carried in every bundle.
 */
const LEFT_IN_NODE_MODULES = [
  'bullmq',
  'ioredis',
  '@mikro-orm/migrations',
  // The library instrumentations: a task never loads them (its code is this bundle, which they cannot patch).
  '@opentelemetry/instrumentation',
  '@opentelemetry/instrumentation-*',
];

/** What a task may load only once it needs it; reached from a bundle's entry without an `import()`, it fails the build. */
const LAZY_ONLY =
  /(^|\/)node_modules\/(@aws-sdk|@smithy|bullmq|ioredis|fastify|@fastify|@mikro-orm\/migrations|umzug|@opentelemetry\/(?!api\/)[^/]+)\//;

/**
 * pg decides when it loads whether it runs in Cloudflare Workers, by touching the global
 * `Response`; on Node 20 that global is lazy, and touching it loads Node's whole fetch
 * implementation (undici: 40 to 100 ms here). On Node that probe is always false (a Node
 * `Response` has no `cf`), so the bundle answers it without the probe.
 */
const nodeOnlyPg: Plugin = {
  name: 'node-only-pg',
  setup(builder) {
    builder.onLoad({ filter: /[\\/]node_modules[\\/]pg[\\/]lib[\\/]stream\.js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      const probe = "typeof Response === 'function'";
      if (!text.includes(probe))
        throw new Error(`${args.path} no longer probes Response: review the node-only-pg plugin of scripts/bundle-tasks.ts`);
      return { contents: text.replace(probe, 'false /* Node, never Cloudflare Workers: see scripts/bundle-tasks.ts */'), loader: 'js' };
    });
  },
};

/**
 * A task's bundle is evaluated through `vm.Script` with its code cache, and there a real `import()`
 * fails on Node 20 ("A dynamic import callback was not specified"): Node finds no loader for a
 * script compiled from cached data. So an `import()` of what stays outside the bundle (a Node
 * built-in such as the OTLP exporter's `import('http')`, a package left in node_modules) becomes
 * a `require` made when the `import()` runs, through a one-line module the bundle carries.
 */
const requireForDynamicImports: Plugin = {
  name: 'require-for-dynamic-imports',
  setup(builder) {
    const outside = new Set<string>([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
    const leftOut = (path: string) =>
      outside.has(path) || LEFT_IN_NODE_MODULES.some((p) => (p.endsWith('*') ? path.startsWith(p.slice(0, -1)) : path === p));
    builder.onResolve({ filter: /.*/ }, (args) =>
      args.kind === 'dynamic-import' && leftOut(args.path) ? { path: args.path, namespace: 'require-at-import' } : undefined,
    );
    builder.onLoad({ filter: /.*/, namespace: 'require-at-import' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

interface Task {
  readonly module: string;
  readonly name: string;
  readonly useCase: string;
}

/**
 * The statements of a module's bundle entry (`src/entrypoints/tasks/<module>/<module>.tasks.ts`):
 * the stop-signal handler first, then the module, the composition's inbox list and the runner.
 */
const ENTRY_SHAPE: ReadonlyArray<{ readonly pattern: RegExp; readonly example: string }> = [
  { pattern: /^import '(\.\.?\/)+([\w-]+\/)*stop-signal\.js';$/, example: "import '../stop-signal.js';" },
  {
    pattern: /^export \{ \w+ as module \} from '[^']+\.module\.js';$/,
    example: "export { <module>Module as module } from '../../../modules/<module>/<module>.module.js';",
  },
  { pattern: /^export \{ \w+ as inboxes \} from '[^']+';$/, example: "export { ALL_INBOXES as inboxes } from '../inboxes.js';" },
  {
    pattern: /^export \{ runUseCaseTask \} from '(\.\.?\/)+([\w-]+\/)*use-case-task\.js';$/,
    example: "export { runUseCaseTask } from '../use-case-task.js';",
  },
];

/** Fails unless `source` holds exactly the statements of a bundle entry (startup code belongs in use-case-task.ts). */
function checkEntry(source: string): void {
  const statements = readFileSync(source, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  if (statements.length !== ENTRY_SHAPE.length || statements.some((s, i) => !ENTRY_SHAPE[i]!.pattern.test(s))) {
    throw new Error(
      `${relative(ROOT, source)} must be exactly these statements, from which its bundle is written; startup code belongs in use-case-task.ts:\n${ENTRY_SHAPE.map((e) => e.example).join('\n')}`,
    );
  }
}

/** Every use case the composition's contracts route, by module. */
function tasksOf(inboxes: readonly ModuleInbox[]): Task[] {
  return inboxes.flatMap((inbox) =>
    [...new Set(inbox.routes.map((r) => r.useCase))]
      .sort()
      .map((useCase) => ({ module: inbox.module, name: useCase.slice(inbox.module.length + 1), useCase })),
  );
}

/** Every input a bundle evaluates when it loads: reached from its entry without an `import()`. */
function loadedAtStart(metafile: Metafile, entry: string): Set<string> {
  // A key that misses would check nothing: fail instead.
  if (!metafile.inputs[entry]) throw new Error(`the bundle's metafile has no input ${entry}`);
  const seen = new Set<string>();
  const visit = (input: string) => {
    if (seen.has(input)) return;
    seen.add(input);
    for (const i of metafile.inputs[input]?.imports ?? []) if (i.kind !== 'dynamic-import' && !i.external) visit(i.path);
  };
  visit(entry);
  return seen;
}

/** The container command's script of one use case; `loader`: the task-bundle loader, relative to the script. */
function entrypoint(task: Task, loader: string): string {
  return [
    `// Written by scripts/bundle-tasks.ts from the ${task.module} contract's inbox: the ECS task of \`${task.useCase}\`.`,
    `import { exitWithTaskHelpIfAsked, loadTaskBundle } from '${loader}';`,
    '',
    `exitWithTaskHelpIfAsked('${task.useCase}');`,
    "const { module, inboxes, runUseCaseTask } = loadTaskBundle(new URL('./module.cjs', import.meta.url));",
    `await runUseCaseTask(module, '${task.useCase}', inboxes);`,
    '',
  ].join('\n');
}

export interface BundleTasksOptions {
  /** tsc's output: its `entrypoints/tasks/task-bundle.js` is the loader every script imports (default `dist`). */
  readonly distDir?: string;
  /** Where the bundles and scripts are written (default `<distDir>/tasks`). */
  readonly outDir?: string;
  /** The composition's inboxes: whose use cases get a task (default ALL_INBOXES, the monolith's). */
  readonly inboxes?: readonly ModuleInbox[];
  /**
   * A module's bundle entry (default: tsc's output of src/entrypoints/tasks/<m>/<m>.tasks.ts, checked
   * on its source), a TypeScript or JavaScript file of the four statements.
   */
  readonly entryOf?: (module: string) => { readonly entry: string; readonly source: string };
}

/** The monolith's bundle entry of a module: tsc's output of src/entrypoints/tasks/<m>/<m>.tasks.ts. */
function monolithEntry(distDir: string): (module: string) => { entry: string; source: string } {
  return (module) => ({
    entry: join(distDir, 'entrypoints/tasks', module, `${module}.tasks.js`),
    source: join(ROOT, 'src/entrypoints/tasks', module, `${module}.tasks.ts`),
  });
}

/** Runs `code` (an ES module) in a plain `node`, as the container does: no loader or flag of this build's own process. */
function node(code: string): string {
  const env = { ...process.env };
  delete env['NODE_OPTIONS'];
  return execFileSync(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, env, encoding: 'utf8' });
}

/**
 * Writes `<outDir>` (default `<distDir>/tasks/`): a bundle and its code cache per module, a script
 * per use case (the one its task definition names). `<distDir>/entrypoints/` must hold tsc's
 * output. Returns the number of use-case scripts. A string is the dist directory (the CLI's form).
 */
export async function bundleTasks(options: BundleTasksOptions | string = {}): Promise<number> {
  const o = typeof options === 'string' ? { distDir: options } : options;
  const distDir = o.distDir ?? join(ROOT, 'dist');
  const outdir = o.outDir ?? join(distDir, 'tasks');
  const entryOf = o.entryOf ?? monolithEntry(distDir);
  const all = tasksOf(o.inboxes ?? ALL_INBOXES);
  if (all.length === 0) throw new Error('no use case is routed by any contract of the composition');
  const modules = [...new Set(all.map((t) => t.module))];
  for (const m of modules) checkEntry(entryOf(m).source);
  rmSync(outdir, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: modules.map((m) => ({ in: entryOf(m).entry, out: `${m}/module` })),
    outdir,
    outExtension: { '.js': '.cjs' },
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    external: [...OTHER_DIALECT_DRIVERS, ...LEFT_IN_NODE_MODULES],
    // Bundling renames clashing classes and functions (pg's DatabaseError becomes DatabaseError2):
    // keep their `name`, which error logs, MikroORM and the AWS SDK read.
    keepNames: true,
    plugins: [nodeOnlyPg, requireForDynamicImports],
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'warning',
  });
  const problems: string[] = [];
  for (const m of modules) {
    const eager = [...loadedAtStart(result.metafile, relative(ROOT, entryOf(m).entry))].filter((input) => LAZY_ONLY.test(input));
    if (eager.length > 0)
      problems.push(
        `the ${m} task bundle loads at start what it must load lazily: ${eager.slice(0, 5).join(', ')}${eager.length > 5 ? ', ...' : ''}`,
      );
  }
  if (problems.length > 0) throw new Error(problems.join('\n'));

  const loader = pathToFileURL(join(distDir, 'entrypoints/tasks/task-bundle.js')).href;
  for (const m of modules) {
    const bundle = pathToFileURL(join(outdir, m, 'module.cjs')).href;
    node(`import { writeTaskBundleCache } from '${loader}'; writeTaskBundleCache(new URL('${bundle}')); process.exit(0);`);
    const state = node(
      `import { taskBundleCacheState } from '${loader}'; process.stdout.write(taskBundleCacheState(new URL('${bundle}')));`,
    );
    if (state !== 'accepted')
      throw new Error(`node ${process.version} does not accept the code cache it wrote for the ${m} task bundle (${state})`);
  }
  for (const task of all) {
    const loaderPath = relative(join(outdir, task.module), join(distDir, 'entrypoints/tasks/task-bundle.js')).split(sep).join('/');
    writeFileSync(
      join(outdir, task.module, `${task.name}.task.js`),
      entrypoint(task, loaderPath.startsWith('.') ? loaderPath : `./${loaderPath}`),
    );
  }
  return all.length;
}

// `tsx scripts/bundle-tasks.ts [distDir]`: the image stand-in rebuilds a copy of dist/ under the image's Node.
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  bundleTasks(process.argv[2] ? resolve(process.argv[2]) : undefined).then(
    (count) => process.stdout.write(`bundled the task entrypoints of ${count} use cases into ${process.argv[2] ?? 'dist'}/tasks/\n`),
    (error: unknown) => {
      process.stderr.write(`bundle-tasks: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
