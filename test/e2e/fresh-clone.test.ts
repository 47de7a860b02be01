import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// A fresh clone after `npm install` has no dist/: the scripts that start compiled JavaScript must
// say in one line what to run, not print Node's "Cannot find module" stack trace.
const clone = mkdtempSync(join(tmpdir(), 'saga-fresh-clone-'));
cpSync('package.json', join(clone, 'package.json'));
cpSync('scripts', join(clone, 'scripts'), { recursive: true });
afterAll(() => rmSync(clone, { recursive: true, force: true }));

describe('npm scripts from a fresh clone without dist/', () => {
  it.each(['worker', 'start'])('npm run %s fails with one line saying to build first', (script) => {
    const run = spawnSync('npm', ['run', '--silent', script], {
      cwd: clone,
      encoding: 'utf8',
      env: { ...process.env, DATABASE_URL: '', REDIS_URL: '' },
    });
    expect(run.status).not.toBe(0);
    expect(run.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^dist\/entrypoints\/[a-z-]+\.js is missing: run `npm run build` first$/),
    ]);
    expect(run.stdout).toBe('');
  });
});
