import { constants } from 'node:fs';
import { access, mkdir, readFile, rm } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorCode, isProcessAlive } from './lock-file.js';
import { checkRedis, redisProcessId, shutdownRedis } from './redis.js';
import { ProvisioningError } from './provisioning-error.js';
import { runCommand } from './run-command.js';

/**
 * A `redis-server` from PATH, daemonised (it outlives the process that started it), listening on
 * loopback only, keeping nothing on disk (like the project's other Redis instances: PostgreSQL is
 * the source of truth). Its pid file and log live in `<DATA_DIR>/redis`.
 */

export interface LocalRedisOptions {
  binary: string;
  port: number;
  /** `<DATA_DIR>/redis`. */
  dir: string;
  log?: (msg: string, data?: object) => void;
}

export interface LocalRedis {
  redisUrl: string;
  pid: number;
  port: number;
  dir: string;
  /** False when our server was already running. */
  started: boolean;
}

const READY_TIMEOUT_MS = 10_000;

function pidFileOf(dir: string): string {
  return join(dir, 'redis.pid');
}

function logFileOf(dir: string): string {
  return join(dir, 'redis.log');
}

function urlOf(port: number): string {
  return `redis://127.0.0.1:${port}`;
}

/** Absolute path of `redis-server` on PATH, if any. */
export async function findRedisServer(path = process.env.PATH ?? ''): Promise<string | undefined> {
  for (const directory of path.split(delimiter)) {
    if (directory === '') continue;
    const candidate = join(directory, 'redis-server');
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

async function readPid(dir: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(pidFileOf(dir), 'utf8')).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

/** Our server: the pid in our pid file is alive and is the process answering on `port`. */
async function ourRunningServer(dir: string, port: number): Promise<number | undefined> {
  const pid = await readPid(dir);
  if (pid === undefined || !isProcessAlive(pid)) return undefined;
  return (await redisProcessId(urlOf(port))) === pid ? pid : undefined;
}

async function logTail(dir: string, lines = 10): Promise<string> {
  try {
    return (await readFile(logFileOf(dir), 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Starts the server unless ours already runs on that port. Callers serialise calls with the provisioning lock. */
export async function startLocalRedis(options: LocalRedisOptions): Promise<LocalRedis> {
  const { dir, port, log } = options;
  const redisUrl = urlOf(port);
  await mkdir(dir, { recursive: true });

  const running = await ourRunningServer(dir, port);
  if (running !== undefined) return { redisUrl, pid: running, port, dir, started: false };

  if ((await checkRedis(redisUrl)).ok) {
    throw new ProvisioningError(
      `Something already answers at 127.0.0.1:${port}, but it is not the Redis started under ${dir}. Set EMBEDDED_REDIS_PORT to a free port, or REDIS_URL to use that server.`,
    );
  }

  log?.('starting redis-server', { port, dir });
  await rm(pidFileOf(dir), { force: true });
  // The log file is truncated by nothing: keep it small by starting a fresh one each time.
  await rm(logFileOf(dir), { force: true });
  const result = await runCommand(
    options.binary,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--daemonize',
      'yes',
      '--dir',
      dir,
      '--pidfile',
      pidFileOf(dir),
      '--logfile',
      logFileOf(dir),
      '--save',
      '',
      '--appendonly',
      'no',
    ],
    { cwd: dir, timeoutMs: READY_TIMEOUT_MS },
  );
  if (result.code !== 0) {
    throw new Error(`redis-server failed (exit code ${String(result.code)}): ${(result.stderr || result.stdout).trim()}`);
  }

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const pid = await ourRunningServer(dir, port);
    if (pid !== undefined) return { redisUrl, pid, port, dir, started: true };
    if (Date.now() >= deadline) {
      throw new ProvisioningError(
        `redis-server did not come up on 127.0.0.1:${port} within ${READY_TIMEOUT_MS} ms (is the port taken? set EMBEDDED_REDIS_PORT). Last lines of ${logFileOf(dir)}:\n${await logTail(dir)}`,
      );
    }
    await sleep(50);
  }
}

/**
 * Stops the server started under `dir` (SHUTDOWN NOSAVE through `port`, or SIGTERM to the pid of
 * our pid file when it does not answer there). Returns whether it was running.
 */
export async function stopLocalRedis(dir: string, port: number): Promise<boolean> {
  const pid = await readPid(dir);
  if (pid === undefined || !isProcessAlive(pid)) {
    await rm(pidFileOf(dir), { force: true });
    return false;
  }
  if ((await redisProcessId(urlOf(port))) === pid) {
    await shutdownRedis(urlOf(port));
  } else if (await isRedisProcess(pid)) {
    process.kill(pid, 'SIGTERM');
  } else {
    // The pid was reused by an unrelated process after a reboot: our server is not running.
    await rm(pidFileOf(dir), { force: true });
    return false;
  }
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (isProcessAlive(pid)) {
    if (Date.now() >= deadline) throw new Error(`redis-server (pid ${pid}) did not stop within ${READY_TIMEOUT_MS} ms`);
    await sleep(50);
  }
  await rm(pidFileOf(dir), { force: true });
  return true;
}

/** Whether `pid` runs redis-server (from /proc where there is one; elsewhere we trust the pid file). */
async function isRedisProcess(pid: number): Promise<boolean> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).includes('redis-server');
  } catch (error) {
    return errorCode(error) !== 'ENOENT' || !(await exists('/proc/self'));
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Whether our server runs, and where. */
export async function localRedisStatus(dir: string, port: number): Promise<{ running: boolean; pid?: number; port?: number }> {
  const pid = await ourRunningServer(dir, port);
  return pid === undefined ? { running: false } : { running: true, pid, port };
}
