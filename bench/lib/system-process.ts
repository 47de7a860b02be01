import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { sleep } from './stats.js';

export interface SystemProcessOptions {
  /** The compiled entrypoint to run, e.g. dist/dev/dev-server.js. */
  readonly entrypoint: string;
  readonly env: Record<string, string>;
  readonly logFile: string;
  /** When set, the process runs with `--cpu-prof` and writes its profile here on exit. */
  readonly cpuProfileDir?: string;
  readonly readyTimeoutMs: number;
}

export interface SystemProcess {
  readonly pid: number;
  readonly baseUrl: string;
  /** The process' peak resident set so far (VmHWM), in MiB. */
  peakRssMb(): Promise<number>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function tail(file: string, lines = 20): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export async function readPeakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmHWM:\s+(\d+)\s+kB$/m.exec(status)?.[1] ?? Number.NaN);
  return Math.round((kb / 1024) * 10) / 10;
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** Starts the system as its own OS process on a free loopback port and waits until /health/ready answers 200. */
export async function startSystem(options: SystemProcessOptions): Promise<SystemProcess> {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const log = createWriteStream(options.logFile);
  const args = [...(options.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`] : []), options.entrypoint];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...options.env, HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${options.entrypoint}`);
  const exit = exited(child);

  const stop = async (graceMs = 30_000): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    try {
      return await exit;
    } finally {
      clearTimeout(timer);
      log.end();
    }
  };

  const deadline = Date.now() + options.readyTimeoutMs;
  let ended = false;
  void exit.then(() => (ended = true));
  for (;;) {
    if (ended)
      throw new Error(`${options.entrypoint} exited during startup (code ${String(child.exitCode)}):\n${await tail(options.logFile)}`);
    try {
      const res = await fetch(`${baseUrl}/health/ready`, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop(5_000);
      throw new Error(`${options.entrypoint} was not ready within ${options.readyTimeoutMs} ms:\n${await tail(options.logFile)}`);
    }
    await sleep(100);
  }
  return { pid, baseUrl, peakRssMb: () => readPeakRssMb(pid), stop };
}
