import { parseArgs } from 'node:util';
import { ConfigError, databaseUrlOf, loadConfig } from '../../shared/infrastructure/config/config.js';
import type { ModuleDefinition } from '../../shared/infrastructure/composition/module-definition.js';
import { createPgClient } from '../../shared/infrastructure/persistence/pg-connections.js';
import { maskUrl, provisioningPaths, readEndpointsFile } from '../provisioning/index.js';
import { checkConsistency, DEFAULT_OPTIONS, inDatabases, SchemaMissingError, type CheckMode } from './consistency/consistency-checks.js';
import { formatReport } from './consistency/format-report.js';
import { ALL_INBOXES, ALL_MODULES } from '../../entrypoints/composition/all-modules.js';
import { exitForSettings, exitWithHelpIfAsked } from '../../entrypoints/cli-help.js';

/**
 * `npm run check:consistency`: checks the system's invariants against its database: the
 * platform's over every module's messaging tables (deliveries pending too long, unrelayed outbox
 * rows, dead letters, messages with two effects or that did not reach a consumer) and each
 * module's own (declared by the module: sagas stuck past their deadline, credit that does not add
 * up...). Reads only. Exit code 0: every invariant holds; 1: one failed; 2: the check could not run.
 *
 * The database: --database-url, else DATABASE_URL, else the one the dev tools recorded in
 * <DATA_DIR>/endpoints.json, else PROBE_DATABASE_URL; a module with a database of its own
 * (<MODULE>_DATABASE_URL) is checked there, and the messages between databases by their ids.
 */

const USAGE = `usage: check-consistency [options]
  --json                   print the report as JSON
  --settled                the system is idle: anything in flight is a failure
  --grace-ms <ms>          live: a PENDING order or saga is stuck this long past its deadline (default ${DEFAULT_OPTIONS.deadlineGraceMs})
  --pending-after-ms <ms>  live: a delivery, outbox row or compensation is stuck after this long (default ${DEFAULT_OPTIONS.pendingAfterMs})
  --limit <n>              offending rows listed per invariant (default ${DEFAULT_OPTIONS.sampleLimit})
  --database-url <url>     the database to check (a module's own: <MODULE>_DATABASE_URL)
  --help`;

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_ERROR = 2;

class UsageError extends Error {}
/** A failure the message explains fully: no stack trace for the operator. */
class CheckError extends Error {}

function nonNegativeInt(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n))
    throw new UsageError(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return n;
}

async function databaseUrlFrom(flag: string | undefined): Promise<string> {
  if (flag) return flag;
  const config = loadConfig();
  if (config.DATABASE_URL) return config.DATABASE_URL;
  const recorded = await readEndpointsFile(provisioningPaths(config.DATA_DIR).endpointsFile);
  return recorded?.databaseUrl ?? config.PROBE_DATABASE_URL;
}

async function main(argv: string[]): Promise<number> {
  exitWithHelpIfAsked(argv, USAGE);
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean', default: false },
      settled: { type: 'boolean', default: false },
      'grace-ms': { type: 'string' },
      'pending-after-ms': { type: 'string' },
      limit: { type: 'string' },
      'database-url': { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  const mode: CheckMode = values.settled ? 'settled' : 'live';
  const options = {
    mode,
    messagesKeptMs: loadConfig().RETENTION_DONE_MS,
    deadlineGraceMs: nonNegativeInt('--grace-ms', values['grace-ms'], DEFAULT_OPTIONS.deadlineGraceMs),
    pendingAfterMs: nonNegativeInt('--pending-after-ms', values['pending-after-ms'], DEFAULT_OPTIONS.pendingAfterMs),
    sampleLimit: Math.max(1, nonNegativeInt('--limit', values.limit, DEFAULT_OPTIONS.sampleLimit)),
  };
  const url = await databaseUrlFrom(values['database-url']);
  const config = loadConfig();
  // Each module in its database (<MODULE>_DATABASE_URL, else the one above): one client, one snapshot each.
  const groups = new Map<string, ModuleDefinition[]>();
  for (const m of ALL_MODULES) {
    const moduleUrl = databaseUrlOf(
      config,
      m.name,
      url,
      ALL_INBOXES.map((i) => i.module),
    );
    groups.set(moduleUrl, [...(groups.get(moduleUrl) ?? []), m]);
  }
  const clients = new Map<string, ReturnType<typeof createPgClient>>();
  try {
    for (const databaseUrl of groups.keys()) clients.set(databaseUrl, await connect(databaseUrl));
    const target = inDatabases(
      [...groups].map(([databaseUrl, definitions]) => ({ client: clients.get(databaseUrl)!, definitions })),
      ALL_INBOXES,
    );
    const report = await checkConsistency(target, options);
    const databases = [...groups.keys()].map(maskUrl).join(', ');
    process.stdout.write(
      values.json ? `${JSON.stringify({ database: databases, ...report }, null, 2)}\n` : `${formatReport(report, databases)}\n`,
    );
    return report.ok ? EXIT_OK : EXIT_FAILED;
  } finally {
    await Promise.all([...clients.values()].map((c) => c.end().catch(() => undefined)));
  }
}

async function connect(url: string): Promise<ReturnType<typeof createPgClient>> {
  // A server going away mid-check fails the check's query (reported below), never the process.
  const client = createPgClient(
    { connectionString: url, connectionTimeoutMillis: 10_000, application_name: 'saga:check-consistency' },
    () => undefined,
  );
  try {
    await client.connect();
  } catch (error) {
    throw new CheckError(`cannot connect to ${maskUrl(url)}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return client;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ConfigError) exitForSettings(error.problems);
    const code = (error as { code?: unknown } | null)?.code;
    const usage = error instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'));
    const explained = usage || error instanceof CheckError || error instanceof ConfigError || error instanceof SchemaMissingError;
    process.stderr.write(`check-consistency: ${error instanceof Error ? error.message : String(error)}\n`);
    if (usage) process.stderr.write(`${USAGE}\n`);
    else if (!explained && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    process.exitCode = EXIT_ERROR;
  },
);
