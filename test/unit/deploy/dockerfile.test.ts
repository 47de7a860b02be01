import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/** The Dockerfile's stages by name (`FROM <image> AS <name>`), each with its own lines. */
function stages(dockerfile: string): Map<string, string> {
  const found = new Map<string, string>();
  const parts = dockerfile.split(/^(?=FROM )/m).filter((p) => p.startsWith('FROM '));
  for (const part of parts) {
    const name = /^FROM \S+ AS (\S+)/.exec(part)?.[1];
    if (name) found.set(name, part);
  }
  return found;
}

/** A stage trusts the RDS CA bundle when it adds the bundle and points Node at it. */
function trustsRdsBundle(stage: string): boolean {
  return /^ADD https:\/\/truststore\.pki\.rds\.amazonaws\.com\/\S+ (\S+)$/m.test(stage) && /^ENV NODE_EXTRA_CA_CERTS=\S+$/m.test(stage);
}

describe('the image', () => {
  const byName = stages(readFileSync('Dockerfile', 'utf8'));

  it('verifies RDS certificates in every stage a process runs in: the runtime and the use-case tasks', () => {
    expect([...byName.keys()].sort()).toEqual(['build', 'runtime', 'task']);
    for (const stage of ['runtime', 'task']) expect(trustsRdsBundle(byName.get(stage)!), stage).toBe(true);
  });

  it('the check bites: a stage without the bundle, or without NODE_EXTRA_CA_CERTS, is found', () => {
    const task = byName.get('task')!;
    expect(trustsRdsBundle(task.replace(/^ENV NODE_EXTRA_CA_CERTS=.*$/m, ''))).toBe(false);
    expect(trustsRdsBundle(task.replace(/^ADD https:\/\/truststore.*$/m, ''))).toBe(false);
  });
});
