import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The release the mixed-version test runs beside the current build (ADR 37): a pinned commit of
 * this repository, the last one before saga definitions were versioned. Move it forward when a
 * release ships; the test then proves the next deployment's order.
 */
export const PREVIOUS_RELEASE = '31e3dcf8a5e06dde3f40a3069eec3b5f86ca9b2e';

const ROOT = resolve(import.meta.dirname, '..', '..');

/**
 * The previous release, built (`npm run build`) in a scratch directory once and cached under
 * node_modules/.cache: its tree from `git archive`, its dependencies this tree's when the lock
 * files match (else `npm ci`). Returns its root, whose dist/ and deploy/ecs/ are the old revision.
 */
export function previousRelease(commit: string = PREVIOUS_RELEASE): string {
  const dir = join(ROOT, 'node_modules', '.cache', 'saga-releases', commit);
  if (existsSync(join(dir, '.built'))) return dir;
  const scratch = `${dir}.${process.pid}.building`;
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  execFileSync('sh', ['-c', `git -C "${ROOT}" archive ${commit} | tar -x -C "${scratch}"`], { stdio: 'pipe' });
  const sameLock = readFileSync(join(scratch, 'package-lock.json'), 'utf8') === readFileSync(join(ROOT, 'package-lock.json'), 'utf8');
  if (sameLock) symlinkSync(join(ROOT, 'node_modules'), join(scratch, 'node_modules'), 'dir');
  else execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: scratch, stdio: 'pipe' });
  execFileSync('npm', ['run', 'build'], { cwd: scratch, stdio: 'pipe', timeout: 10 * 60_000 });
  execFileSync('touch', [join(scratch, '.built')]);
  rmSync(dir, { recursive: true, force: true });
  renameSync(scratch, dir);
  return dir;
}

/** A process of one release (API, worker), its output kept for the failure message. */
export class ReleaseProcess {
  private output = '';
  private readonly child: ChildProcess;
  private readonly exited: Promise<number | null>;

  constructor(
    readonly label: string,
    root: string,
    entry: string,
    env: Record<string, string>,
  ) {
    this.child = spawn(process.execPath, [join(root, 'dist', 'entrypoints', entry)], {
      cwd: root,
      env: { PATH: process.env['PATH'] ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-20_000);
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.exited = new Promise((r) => this.child.once('exit', (code) => r(code)));
  }

  /** Resolves when a line contains `text`; rejects when the process exits first or the time is up. */
  async ready(text: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.output.includes(text)) {
      if (this.child.exitCode !== null) throw new Error(`${this.label} exited ${this.child.exitCode}: ${this.output.slice(-3_000)}`);
      if (Date.now() > deadline) throw new Error(`${this.label} not ready after ${timeoutMs} ms: ${this.output.slice(-3_000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGTERM (a roll-out replacing it): it finishes what it holds and exits 0. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }

  logs(): string {
    return this.output;
  }
}
