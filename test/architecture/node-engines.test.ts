import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { FALLBACK_NODE, fallbackWarning, NOT_DECLARING_THE_FALLBACK } from '../../src/dev/node-version.js';

/**
 * One Node story: the range package.json states is one every installed package supports (their
 * `engines.node`, read from node_modules as installed), .nvmrc and the production image are in it,
 * README says the same, and the Node 20 fallback is left out only by the packages known to.
 */
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string } };
const stated = pkg.engines.node;

interface Installed {
  readonly name: string;
  readonly path: string;
  readonly node: string;
}

/** Every package under `dir` (nested node_modules too) that declares `engines.node`. */
function installed(dir: string, found: Installed[] = []): Installed[] {
  if (!existsSync(dir)) return found;
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith('.')) continue;
    const names = entry.startsWith('@') ? readdirSync(join(dir, entry)).map((n) => `${entry}/${n}`) : [entry];
    for (const name of names) {
      const path = join(dir, name);
      const manifest = join(path, 'package.json');
      if (existsSync(manifest)) {
        const json = JSON.parse(readFileSync(manifest, 'utf8')) as { engines?: { node?: unknown } };
        if (typeof json.engines?.node === 'string') found.push({ name, path, node: json.engines.node });
      }
      installed(join(path, 'node_modules'), found);
    }
  }
  return found;
}

const tree = installed('node_modules');

describe('the Node versions', () => {
  it('reads a real tree: hundreds of packages declare their Node', () => {
    expect(tree.length).toBeGreaterThan(200);
    expect(tree.find((p) => p.name === '@opentelemetry/core')?.node).toBeDefined();
  });

  it("every installed package supports the whole of package.json's engines range", () => {
    const refusing = tree.filter((p) => !semver.subset(stated, p.node, { includePrerelease: false })).map((p) => `${p.path}: ${p.node}`);
    expect(refusing).toEqual([]);
  });

  it('would catch a package that supports less (the check bites)', () => {
    expect(semver.subset(stated, '>=24')).toBe(false);
    expect(semver.subset('>=20.19', '>=22.15.0')).toBe(false);
  });

  it('on the Node 20 fallback, only the known packages declare more', () => {
    const unknown = tree
      .filter((p) => !semver.subset(FALLBACK_NODE, p.node))
      .filter((p) => !NOT_DECLARING_THE_FALLBACK.some((known) => known.test(p.name)))
      .map((p) => `${p.path}: ${p.node}`);
    expect(unknown).toEqual([]);
  });

  it('.nvmrc, the production image and README state the same versions', () => {
    const nvmrc = readFileSync('.nvmrc', 'utf8').trim();
    expect(semver.intersects(`${nvmrc}.x`, stated)).toBe(true);
    const image = /^ARG NODE_IMAGE=node:(\d+)[.-]/m.exec(readFileSync('Dockerfile', 'utf8'))?.[1];
    expect(image).toBe(nvmrc);
    const readme = readFileSync('README.md', 'utf8');
    const minimum = semver.minVersion(stated)!;
    expect(readme).toContain(`Node ${minimum.major}.${minimum.minor} or later`);
    expect(readme).toContain(`Node ${semver.minVersion(FALLBACK_NODE)!.major}.${semver.minVersion(FALLBACK_NODE)!.minor}`);
    expect(readme).not.toMatch(/Node ≥ 20/);
  });

  it('the dev tools warn on the fallback only', () => {
    expect(fallbackWarning('20.20.2')).toMatch(/^Node 20\.20\.2 is a fallback: development is supported on Node 22\.15 or later/);
    expect(fallbackWarning('22.15.0')).toBeUndefined();
    expect(fallbackWarning('24.1.0')).toBeUndefined();
  });
});
