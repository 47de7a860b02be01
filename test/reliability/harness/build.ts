import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { bundleTasks } from '../../../scripts/bundle-tasks.js';

/**
 * Compiles `src` into a directory of the suite's own (not the shared `dist/`, which other
 * work may be rebuilding at the same time), and bundles its task entrypoints as `npm run build`
 * does: the system under test runs as compiled JavaScript, which starts in a fraction of tsx's
 * time, so restarts measure the system, not the compiler.
 */
export async function buildSystem(projectRoot: string, outDir: string): Promise<number> {
  const started = Date.now();
  const tsc = join(projectRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  const args = [tsc, '-p', 'tsconfig.build.json', '--outDir', outDir, '--incremental', '--tsBuildInfoFile', join(outDir, '.tsbuildinfo')];
  const output = await new Promise<{ code: number | null; text: string }>((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, text });
    });
  });
  if (output.code !== 0) throw new Error(`compiling src failed (tsc exit code ${String(output.code)}):\n${output.text.trim()}`);
  await bundleTasks(outDir);
  return Date.now() - started;
}
