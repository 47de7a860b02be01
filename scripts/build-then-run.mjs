// `node scripts/build-then-run.mjs <script> [args...]`: the npm scripts that need a fresh build
// (ecs:local, bench) run `npm run build`, then their script with the arguments npm appended.
// With --help (or -h) there is no build: the script's usage is printed from its TypeScript source
// (dist/x.js is src/x.ts), so that asking how to run something never compiles anything.
import { spawn, spawnSync } from 'node:child_process';
import { constants } from 'node:os';

const [target, ...args] = process.argv.slice(2);
if (!target) {
  process.stderr.write('usage: node scripts/build-then-run.mjs <dist/...js | ....ts> [args...]\n');
  process.exit(2);
}
const help = args.includes('--help') || args.includes('-h');
const typescript = target.endsWith('.ts');
if (!help) {
  const build = spawnSync('npm', ['run', 'build'], { stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}
const source = typescript ? target : target.replace(/^dist\/(.*)\.js$/, 'src/$1.ts');
const argv = help || typescript ? ['--import', 'tsx', source, ...args] : [target, ...args];
const child = spawn(process.execPath, argv, { stdio: 'inherit' });
// Ctrl-C reaches the child from the terminal itself (one process group): passing it on would be a
// second Ctrl-C. A SIGTERM sent to this process alone is passed on.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? 128 + (signal ? constants.signals[signal] : 0)));
