import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cruise, type ICruiseOptions, type ICruiseResult, type IViolation } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONFIG_FILE = join(ROOT, '.dependency-cruiser.js');
const FIXTURE = fileURLToPath(new URL('./fixtures/broken-monolith/', import.meta.url));

interface Expectation {
  /** The files whose imports must trip the rule; a violation from any other file fails the test. */
  readonly from: readonly string[];
  /** Each of these must be named as the offending dependency of the rule. */
  readonly to: readonly (string | RegExp)[];
  /** For rules on transitive dependencies: a module the reported path must pass through. */
  readonly via?: string;
}

/**
 * One entry per rule of .dependency-cruiser.js, naming the fixture file written to break it.
 * A rule added to the config without an entry here (and so without a fixture) fails the test.
 */
const EXPECTED: Readonly<Record<string, Expectation>> = {
  'no-circular': {
    from: ['src/modules/customer/domain/credit-limit.ts', 'src/modules/customer/domain/credit-policy.ts'],
    to: [/^src\/modules\/customer\/domain\/credit-(limit|policy)\.ts$/],
  },
  'modules-meet-only-through-contracts': {
    from: ['src/modules/order/infrastructure/customer-credit.gateway.ts'],
    to: ['src/modules/customer/infrastructure/customer.repository.ts'],
  },
  'contract-uses-only-kernel-shared-contract-and-zod': {
    from: ['src/modules/customer/contract/credit-limit-changed.ts'],
    to: ['src/modules/customer/domain/customer.ts'],
  },
  'shared-contract-is-wire-vocabulary': {
    // one import of each kind it must refuse: a node built-in, an npm package other than zod, other shared code
    from: ['src/shared/contract/message-id.schema.ts'],
    to: ['crypto', /(^|\/)node_modules\/pino\//, 'src/shared/infrastructure/database.ts'],
  },
  'kernel-is-self-contained': {
    from: ['src/shared/kernel/id.ts'],
    to: ['crypto'],
  },
  'domain-is-pure': {
    // a node built-in, and ECS naming (which once lived in the kernel, where the domain could reach it)
    from: ['src/modules/order/domain/order-events.ts'],
    to: ['events', 'src/shared/infrastructure/ecs-task-family.ts'],
  },
  'application-depends-on-ports-not-adapters': {
    // a type-only import (proves tsPreCompilationDeps is on); npm packages that are no driver; a node built-in.
    // The queue written against drivers-only-in-adapters-and-composition (bullmq) trips this rule too.
    from: [
      'src/modules/order/application/cancel-order/cancel-order.handler.ts',
      'src/modules/order/application/place-order/place-order.audit.ts',
      'src/modules/customer/application/reserve-credit/reserve-credit.queue.ts',
    ],
    to: ['src/modules/order/infrastructure/order.repository.ts', /(^|\/)node_modules\/knex\//, /(^|\/)node_modules\/pino\//, 'fs'],
  },
  'drivers-only-in-adapters-and-composition': {
    from: ['src/modules/customer/application/reserve-credit/reserve-credit.queue.ts'],
    to: [/(^|\/)node_modules\/bullmq\//],
  },
  'nothing-imports-entrypoints': {
    from: ['src/modules/order/infrastructure/http-server.ts'],
    to: ['src/entrypoints/migrate.ts'],
  },
  'shared-does-not-import-modules': {
    from: ['src/shared/infrastructure/order-lookup.ts'],
    to: ['src/modules/order/infrastructure/order.repository.ts'],
  },
  'only-the-composition-and-http-import-http': {
    from: ['src/shared/infrastructure/messaging/relay-errors.ts'],
    to: ['src/shared/infrastructure/http/problem.ts'],
  },
  'operations-sit-above-messaging': {
    from: ['src/shared/infrastructure/persistence/inbox-stats.ts'],
    to: ['src/shared/infrastructure/operations/delivery-administration.ts'],
  },
  'observability-sits-below-delivery': {
    from: ['src/shared/infrastructure/observability/lag-gauge.ts'],
    to: ['src/shared/infrastructure/messaging/outbox.ts'],
  },
  'http-security-knows-no-console': {
    from: ['src/shared/infrastructure/http/security/sign-in.ts'],
    to: ['src/shared/infrastructure/http/console/pages.ts'],
  },
  'http-host-mounts-no-console': {
    from: ['src/shared/infrastructure/http/http-server.ts'],
    to: ['src/shared/infrastructure/http/console/pages.ts'],
  },
  'task-composes-only-its-own-module': {
    from: ['src/entrypoints/tasks/customer/reserve-credit.task.ts'],
    to: ['src/modules/order/order.module.ts', 'src/modules/order/domain/order.ts'],
    via: 'src/entrypoints/tasks/all-modules.ts',
  },
  'task-reaches-no-other-entrypoint': {
    from: ['src/entrypoints/tasks/order/cancel-order.task.ts'],
    to: ['src/entrypoints/migrate.ts'],
  },
  'production-reaches-no-dev-tool': {
    from: [
      'src/shared/infrastructure/local-database.ts',
      'src/entrypoints/tasks/customer/release-credit.task.ts',
      'src/entrypoints/api-server.ts',
    ],
    to: ['src/dev/provisioning/embedded-database.ts', 'src/dev/dev-server.ts'],
  },
  'production-uses-no-dev-dependency': {
    from: ['src/shared/infrastructure/retry-jitter.ts'],
    to: [/(^|\/)node_modules\/fast-check\//],
  },
  'not-to-unresolvable': {
    from: ['src/modules/customer/infrastructure/customer.mapper.ts'],
    to: ['./customer.entity-schma.js'],
  },
};

const TS_SOURCE = /\.(ts|mts|cts|tsx)$/;

const sourceFiles = (baseDir: string): string[] =>
  readdirSync(join(baseDir, 'src'), { recursive: true, encoding: 'utf8' })
    .filter((file) => TS_SOURCE.test(file))
    .map((file) => `src/${file.split('\\').join('/')}`)
    .sort();

/** Cruises `<baseDir>/src` the way `depcruise src --config .dependency-cruiser.js` run in baseDir does. */
const cruiseTree = async (options: ICruiseOptions, baseDir: string): Promise<ICruiseResult> => {
  const tsConfigFile = options.tsConfig?.fileName;
  const { output } = await cruise(
    ['src'],
    { ...options, baseDir },
    {},
    { tsConfig: tsConfigFile ? extractTSConfig(join(baseDir, tsConfigFile)) : undefined },
  );
  if (typeof output === 'string') throw new Error('dependency-cruiser returned a report instead of a result');
  return output;
};

const asLine = (violation: IViolation): string => `${violation.rule.name}: ${violation.from} → ${violation.to}`;

let options: ICruiseOptions;

beforeAll(async () => {
  options = await extractDepcruiseOptions(CONFIG_FILE);
});

describe('.dependency-cruiser.js', () => {
  it('has exactly the rules this test proves, each an error', () => {
    const rules = options.ruleSet?.forbidden ?? [];

    expect(rules.map((rule) => rule.name).sort()).toEqual(Object.keys(EXPECTED).sort());
    expect(rules.filter((rule) => rule.severity !== 'error').map((rule) => rule.name)).toEqual([]);
    expect(options.tsPreCompilationDeps).toBe(true);
    expect(options.ruleSet?.allowed ?? []).toEqual([]);
  });
});

describe('the real tree', () => {
  it('cruises every source file under src and finds no violation', async () => {
    const result = await cruiseTree(options, ROOT);
    const onDisk = sourceFiles(ROOT);
    const cruised = new Set(result.modules.map((module) => module.source));

    // A cruise that silently sees nothing (an unreadable TypeScript, a bad path) must not pass.
    expect(onDisk.length).toBeGreaterThan(0);
    expect(onDisk.filter((file) => !cruised.has(file))).toEqual([]);
    expect(result.summary.violations.map(asLine)).toEqual([]);
  });
});

describe('the broken fixture', () => {
  let violations: IViolation[];

  beforeAll(async () => {
    const result = await cruiseTree(options, FIXTURE);
    const cruised = new Set(result.modules.map((module) => module.source));

    expect(sourceFiles(FIXTURE).filter((file) => !cruised.has(file))).toEqual([]);
    violations = result.summary.violations;
  });

  it.each(Object.entries(EXPECTED))('%s fires on the file written to break it', (rule, expected) => {
    const fired = violations.filter((violation) => violation.rule.name === rule);

    expect(fired.length, `${rule} did not fire`).toBeGreaterThan(0);
    expect(fired.filter((violation) => !expected.from.includes(violation.from))).toEqual([]);
    const targets = fired.map((violation) => violation.to);
    for (const to of expected.to) expect(targets).toContainEqual(typeof to === 'string' ? to : expect.stringMatching(to));
    const { via } = expected;
    if (via !== undefined) {
      const paths = fired.map((violation) => (violation.via ?? []).map((step) => step.name));
      expect(paths.filter((path) => !path.includes(via))).toEqual([]);
    }
  });

  it('reports nothing on the files marked clean', () => {
    const clean = sourceFiles(FIXTURE).filter((file) => readFileSync(join(FIXTURE, file), 'utf8').startsWith('// clean'));

    expect(clean.length).toBeGreaterThan(10);
    expect(violations.filter((violation) => clean.includes(violation.from))).toEqual([]);
  });

  it('makes the CI command (`depcruise src --output-type err`) exit non-zero, naming every rule', async () => {
    const run = promisify(execFile)('npx', ['depcruise', 'src', '--config', CONFIG_FILE, '--output-type', 'err'], {
      cwd: FIXTURE,
    });

    const failure = await run.then(
      () => ({ code: 0, stdout: '' }),
      (error: { code?: number; stdout?: string }) => ({ code: error.code, stdout: error.stdout ?? '' }),
    );
    expect(failure.code).not.toBe(0);
    for (const [rule, expected] of Object.entries(EXPECTED)) {
      const named = expected.from.some((file) => failure.stdout.includes(`error ${rule}: ${file}`));
      expect(named, `${rule} is not reported on ${expected.from.join(' or ')}`).toBe(true);
    }
  });
});
