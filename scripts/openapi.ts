/**
 * The API's OpenAPI document, as the server serves it at /openapi.json, built from the route
 * schemas without a database or a listening socket; then `redocly lint` (redocly.yaml: the
 * recommended ruleset) on it, failing on any error or warning but the few justified below.
 *   npm run lint:openapi                       build the document and lint it
 *   tsx scripts/openapi.ts --write <file>      only write the document
 *   tsx scripts/openapi.ts --lint <file>       lint a document file (the test's fixtures)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Container } from 'inversify';
import { ALL_MODULES } from '../src/entrypoints/composition/all-modules.js';
import { packageVersion } from '../src/entrypoints/process.js';
import { API_TITLE } from '../src/entrypoints/composition/monolith.js';
import { registerAdminRoutes } from '../src/shared/infrastructure/http/admin.routes.js';
import { DeliveryAdministration } from '../src/shared/infrastructure/operations/delivery-administration.js';
import { scopeDeclarationsOf } from '../src/shared/infrastructure/http/declared-scopes.js';
import { registerSagaVersionsRoute } from '../src/shared/infrastructure/http/saga-versions.routes.js';
import { SagaVersions } from '../src/shared/infrastructure/operations/saga-versions.js';
import { createHttpServer } from '../src/shared/infrastructure/http/http-server.js';
import { apiSecurityFrom, httpLimitsFrom } from '../src/shared/infrastructure/http/security/security-config.js';
import { loadConfig } from '../src/shared/infrastructure/config/config.js';
import { createLogger } from '../src/shared/infrastructure/logging/logger.js';
import type { ModuleDatabase } from '../src/shared/infrastructure/persistence/module-database.js';

/** Routes only capture their handlers: nothing is resolved until a request arrives, and none does. */
const UNUSED_CONTAINER = { get: () => ({}) } as unknown as Container;
/** The admin routes read their use cases (the document's example) from it, never a database: none is open. */
const UNUSED_DATABASE = {} as unknown as ModuleDatabase;

export async function openApiDocument(): Promise<unknown> {
  const logger = createLogger({ level: 'silent' });
  const config = loadConfig({});
  const app = await createHttpServer({
    logger,
    bodyLimit: 1,
    readiness: [],
    title: API_TITLE,
    version: packageVersion(),
    // Each operation's security comes from its route's declared access, whatever the mode.
    security: apiSecurityFrom(config),
    limits: httpLimitsFrom(config),
    scopes: scopeDeclarationsOf(ALL_MODULES),
  });
  for (const m of ALL_MODULES) m.registerRoutes?.(app, UNUSED_CONTAINER);
  const administration = new DeliveryAdministration(
    ALL_MODULES.map((m) => ({ db: UNUSED_DATABASE, useCases: m.inbox.routes.map((r) => r.useCase) })),
  );
  registerAdminRoutes(app, { administration, logger });
  registerSagaVersionsRoute(app, new SagaVersions([]));
  await app.ready();
  const document = app.swagger();
  await app.close();
  return document;
}

interface LintProblem {
  readonly ruleId: string;
  readonly severity: string;
  readonly message: string;
  readonly location: ReadonlyArray<{ readonly pointer: string }>;
}

/**
 * Findings that are true and accepted. The health probes answer 200 or 503 whatever the request
 * (no parameter, no body), so they have no 4XX response to declare.
 */
const ACCEPTED: ReadonlyArray<{ readonly ruleId: string; readonly pointer: string }> = [
  { ruleId: 'operation-4xx-response', pointer: '#/paths/~1health~1live/get/responses' },
  { ruleId: 'operation-4xx-response', pointer: '#/paths/~1health~1ready/get/responses' },
];

/** Runs the pinned redocly on `file`; throws listing every error and warning not ACCEPTED. */
export function lintOpenApi(file: string): void {
  const result = spawnSync('npx', ['--no-install', 'redocly', 'lint', '--config', 'redocly.yaml', '--format', 'json', file], {
    encoding: 'utf8',
  });
  let report: { problems: LintProblem[] };
  try {
    report = JSON.parse(result.stdout) as { problems: LintProblem[] };
  } catch {
    throw new Error(`redocly lint did not report (exit ${result.status}): ${result.stderr || result.error?.message}`);
  }
  const problems = report.problems.filter(
    (p) => !ACCEPTED.some((a) => a.ruleId === p.ruleId && p.location.some((l) => l.pointer === a.pointer)),
  );
  if (problems.length > 0) {
    const lines = problems.map((p) => `  ${p.severity} ${p.ruleId} at ${p.location.map((l) => l.pointer).join(', ')}: ${p.message}`);
    throw new Error(`redocly lint (recommended) found ${problems.length} problem(s) in ${file}:\n${lines.join('\n')}`);
  }
}

async function main(argv: readonly string[]): Promise<void> {
  if (argv[0] === '--lint' && argv[1]) {
    lintOpenApi(argv[1]);
    return;
  }
  const document = `${JSON.stringify(await openApiDocument(), null, 2)}\n`;
  if (argv[0] === '--write' && argv[1]) {
    writeFileSync(argv[1], document);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'saga-openapi-'));
  try {
    const file = join(dir, 'openapi.json');
    writeFileSync(file, document);
    lintOpenApi(file);
    process.stdout.write('the OpenAPI document passes redocly lint (recommended)\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`lint:openapi: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
