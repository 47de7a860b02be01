import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// No database or Redis may be needed to print the usage: point both nowhere.
const NOWHERE = {
  DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
  REDIS_URL: 'redis://127.0.0.1:1',
  PROBE_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
};

function run(
  script: string,
  args: string[],
  settings: Record<string, string | undefined> = NOWHERE,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...settings };
    const child = spawn(process.execPath, ['--import', 'tsx', `src/${script}.ts`, ...args], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('--help on every command line', () => {
  it.each([
    ['entrypoints/dead-letters', ['--help']],
    ['entrypoints/dead-letters', ['list', '-h']],
    ['dev/cli/dead-letters', ['--help']],
    ['dev/cli/check-consistency', ['--help']],
    ['dev/cli/services', ['--help']],
    ['entrypoints/migrate', ['--help']],
    ['dev/cli/ecs-local', ['--help']],
    ['dev/deploy/ecs-task-definitions', ['--help']],
  ])('%s %j prints plain usage on stdout and exits 0', { timeout: 30_000 }, async (script, args) => {
    const result = await run(script, args);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^usage:/);
    expect(result.stdout).not.toMatch(/^\s*[{[]/);
    expect(result.stdout).not.toContain('\\n');
  });

  it('a usage error of dead-letters is one JSON line without escaped line breaks', { timeout: 30_000 }, async () => {
    const result = await run('entrypoints/dead-letters', ['frobnicate']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(result.stderr)).toEqual({
      error: { code: 'USAGE', message: expect.any(String), usage: expect.stringContaining('dead-letters list') },
    });
    expect(result.stderr).not.toContain('\\n');
  });

  it(
    'the production dead-letters CLI knows only DATABASE_URL: unset, it exits 78 naming it (no search for a local database)',
    { timeout: 30_000 },
    async () => {
      const result = await run('entrypoints/dead-letters', ['list'], { DATABASE_URL: undefined, DATA_DIR: '/nonexistent' });
      expect(result.code).toBe(78);
      expect(JSON.parse(result.stderr)).toEqual({
        error: { code: 'INVALID_CONFIGURATION', message: expect.stringContaining('DATABASE_URL') },
      });
    },
  );
});
