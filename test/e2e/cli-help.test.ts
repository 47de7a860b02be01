import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * Every entrypoint and CLI a newcomer meets (the package.json scripts, the production mains, the
 * task scripts): `--help` prints the usage and exits 0 with no side effect, and a setting that is
 * missing or refused exits 78 with one line naming it, never a stack trace.
 */

// No database or Redis may be needed to print the usage: point both nowhere. Had a command started
// anything (a server, a migration, a probe), it would fail on these instead of exiting 0.
const NOWHERE = {
  DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
  REDIS_URL: 'redis://127.0.0.1:1',
  PROBE_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
  PROBE_REDIS_URL: 'redis://127.0.0.1:1',
};

const scratch = mkdtempSync(join(tmpdir(), 'saga-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function spawned(command: string, args: readonly string[], env: Record<string, string | undefined>): Promise<Result> {
  return new Promise((resolve, reject) => {
    const clean = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
    const child = spawn(command, args, { env: clean });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A TypeScript main (`src/...` or `bench/...`) under tsx. */
function run(script: string, args: string[], settings: Record<string, string | undefined> = NOWHERE): Promise<Result> {
  const file = script.startsWith('bench/') ? `${script}.ts` : `src/${script}.ts`;
  return spawned(process.execPath, ['--import', 'tsx', file, ...args], { ...process.env, ...settings });
}

/** Only what a fresh shell has, and `settings`: none of the test run's own variables. */
function bare(settings: Record<string, string>): Record<string, string | undefined> {
  return { PATH: process.env['PATH'], HOME: process.env['HOME'], DATA_DIR: join(scratch, 'data'), ...settings };
}
function runBare(script: string, args: string[], settings: Record<string, string>): Promise<Result> {
  const file = script.startsWith('bench/') ? `${script}.ts` : `src/${script}.ts`;
  return spawned(process.execPath, ['--import', 'tsx', file, ...args], bare(settings));
}

function expectUsage(result: Result): void {
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  expect(result.stdout).toMatch(/^usage:/);
  expect(result.stdout).not.toMatch(/^\s*[{[]/);
  expect(result.stdout).not.toContain('\\n');
}

/** Exit 78, and stderr exactly `lines` (one per refused setting): no stack trace, nothing else. */
function expectRefused(result: Result, lines: RegExp[]): void {
  expect(result.code, result.stderr).toBe(78);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  const written = result.stderr.trimEnd().split('\n');
  expect(written).toHaveLength(lines.length);
  lines.forEach((line, i) => expect(written[i]).toMatch(line));
}

describe('--help on every command line', () => {
  it.each([
    ['entrypoints/api-server', ['--help']],
    ['entrypoints/worker', ['--help']],
    ['entrypoints/sweeper', ['-h']],
    ['dev/dev-server', ['--help']],
    ['entrypoints/dead-letters', ['--help']],
    ['entrypoints/dead-letters', ['list', '-h']],
    ['dev/cli/dead-letters', ['--help']],
    ['dev/cli/check-consistency', ['--help']],
    ['dev/cli/services', ['--help']],
    ['dev/cli/auth-token', ['--help']],
    ['dev/cli/traces', ['--help']],
    ['entrypoints/migrate', ['--help']],
    ['dev/cli/ecs-local', ['--help']],
    ['dev/deploy/ecs-task-definitions', ['--help']],
    ['bench/cost/run', ['--help']],
    ['bench/run', ['--help']],
  ])('%s %j prints plain usage on stdout and exits 0', { timeout: 60_000 }, async (script, args) => {
    expectUsage(await run(script, args));
  });

  it('a task script prints its usage before its bundle loads', { timeout: 30_000 }, async () => {
    expectUsage(await spawned(process.execPath, ['dist/tasks/order/approve-order.task.js', '--help'], bare({})));
  });

  it.each(['ecs:local', 'bench'])('npm run %s -- --help prints the usage without building first', { timeout: 60_000 }, async (script) => {
    const built = statSync('dist/entrypoints/api-server.js').mtimeMs;
    const result = await spawned('npm', ['run', '-s', script, '--', '--help'], { ...process.env, ...NOWHERE });
    expectUsage(result);
    expect(statSync('dist/entrypoints/api-server.js').mtimeMs).toBe(built);
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

describe('a missing or refused setting: exit 78, one line naming it', () => {
  it.each<[string, string[], Record<string, string>, RegExp[]]>([
    // README's scripts table names DATABASE_URL for npm start: the default transport needs Redis too.
    ['entrypoints/api-server', [], { DATABASE_URL: NOWHERE.DATABASE_URL }, [/^REDIS_URL: required with EVENT_BUS=bullmq/]],
    ['entrypoints/api-server', [], {}, [/^DATABASE_URL: required/]],
    [
      'entrypoints/api-server',
      [],
      { ...NOWHERE, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1', OTEL_TRACES_EXPORTER: 'zipkin' },
      [/^OTEL_TRACES_EXPORTER: /],
    ],
    ['entrypoints/worker', [], { DATABASE_URL: NOWHERE.DATABASE_URL }, [/^REDIS_URL: required/]],
    ['entrypoints/sweeper', [], {}, [/^DATABASE_URL: required/]],
    ['entrypoints/migrate', [], {}, [/^DATABASE_URL: required/]],
    ['dev/dev-server', [], { PORT: 'eighty' }, [/^PORT: /]],
    ['dev/dev-server', [], { EVENT_BUS: 'kafka', LOG_LEVEL: 'loud' }, [/^LOG_LEVEL: /, /^EVENT_BUS: /]],
    ['dev/cli/check-consistency', [], { RETENTION_DONE_MS: 'soon' }, [/^RETENTION_DONE_MS: /]],
    ['dev/cli/services', ['status'], { EMBEDDED_PG_PORT: '0' }, [/^EMBEDDED_PG_PORT: /]],
    ['dev/cli/auth-token', [], { LOG_LEVEL: 'loud' }, [/^LOG_LEVEL: /]],
    ['dev/cli/ecs-local', [], { ECS_LOCAL_PORT: 'x' }, [/^ECS_LOCAL_PORT: /]],
    ['dev/cli/ecs-local', [], { PROBE_REDIS_URL: 'http://nowhere' }, [/^PROBE_REDIS_URL: /]],
    ['dev/cli/traces', [], { TRACES_PORT: '-1' }, [/^TRACES_PORT: /]],
    // An address taken (PostgreSQL's, which the test run has): the same one line, not EADDRINUSE's stack.
    ['dev/cli/traces', [], { TRACES_PORT: '5432' }, [/^TRACES_PORT: 127\.0\.0\.1:5432 cannot be listened on \(EADDRINUSE\)/]],
    ['dev/deploy/ecs-task-definitions', ['--render', join(scratch, 'rendered')], {}, [/^IMAGE, TASK_ROLE_ARN, .*: required/]],
    ['bench/run', [], { EVENT_BUS: 'kafka' }, [/^EVENT_BUS: /]],
  ])('%s %j with %j', { timeout: 60_000 }, async (script, args, settings, lines) => {
    expectRefused(await runBare(script, args, settings), lines);
  });

  it('cdk synth without the issuer context exits 78 with one line naming it', { timeout: 60_000 }, async () => {
    const result = await new Promise<Result>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'bin/app.ts'], {
        cwd: 'deploy/cdk',
        env: bare({ CDK_OUTDIR: join(scratch, 'cdk.out') }),
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    expectRefused(result, [/^context authIssuer, authAudience and authJwksUrl: .* pass -c key=value\)$/]);
  });

  it('a task without DATABASE_URL exits 78 with one log line naming it', { timeout: 30_000 }, async () => {
    const result = await spawned(process.execPath, ['dist/tasks/order/approve-order.task.js'], bare({}));
    expect(result.code).toBe(78);
    expect(result.stderr + result.stdout).not.toMatch(/\n\s+at /);
    const lines = (result.stdout + result.stderr).trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: expect.stringContaining('DATABASE_URL') });
  });
});
