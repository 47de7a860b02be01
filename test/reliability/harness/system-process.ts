import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { sleep } from './util.js';

export interface SystemProcessOptions {
  /** The compiled entrypoint to run with node (the dev server: HTTP, relay, workers, sweeper, jobs). */
  readonly entry: string;
  readonly cwd: string;
  readonly env: Record<string, string>;
  readonly port: number;
  /** stdout and stderr of every start, appended. */
  readonly logFile: string;
  readonly startTimeoutMs?: number;
  /** Answers 200 once the process is up (default /health/live: the dev server listens once migrated and consuming). */
  readonly readyPath?: string;
}

export interface UnexpectedExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly at: number;
}

/**
 * The system under test (or the local ECS endpoint) as a real child process, so a SIGKILL is a real crash: no shutdown hook,
 * no `finally`, whatever was in flight is cut where it stood.
 */
export class SystemProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private expectingExit = false;
  readonly unexpectedExits: UnexpectedExit[] = [];
  starts = 0;
  kills = 0;

  constructor(private readonly options: SystemProcessOptions) {}

  get baseUrl(): string {
    return `http://127.0.0.1:${this.options.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts the process and waits until it answers its ready path; returns the time that took. */
  async start(): Promise<number> {
    if (this.child) throw new Error('the system process is already running');
    const started = Date.now();
    const fd = openSync(this.options.logFile, 'a');
    const child = spawn(process.execPath, [this.options.entry], {
      cwd: this.options.cwd,
      env: { ...this.options.env, PORT: String(this.options.port) },
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    this.child = child;
    this.expectingExit = false;
    this.starts++;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        if (!this.expectingExit) this.unexpectedExits.push({ code, signal, at: Date.now() });
        if (this.child === child) this.child = undefined;
        resolve();
      });
    });
    const timeoutMs = this.options.startTimeoutMs ?? 60_000;
    while (Date.now() - started < timeoutMs) {
      if (this.child !== child) throw new Error(`the system process exited during startup; log tail:\n${this.logTail()}`);
      if (await this.answers()) return Date.now() - started;
      await sleep(25);
    }
    await this.kill();
    throw new Error(`the system process did not answer within ${timeoutMs} ms; log tail:\n${this.logTail()}`);
  }

  private async answers(): Promise<boolean> {
    try {
      const res = await fetch(`${this.baseUrl}${this.options.readyPath ?? '/health/live'}`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      return res.ok;
    } catch {
      return false;
    }
  }

  /** SIGKILL, and wait until it is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.expectingExit = true;
    this.kills++;
    child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM (a graceful stop), SIGKILL if it takes longer than `graceMs`. */
  async stop(graceMs = 30_000): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.expectingExit = true;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  logTail(lines = 30): string {
    try {
      return readFileSync(this.options.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** Log lines at `error` level or above (pino level >= 50), parsed. */
  errorLines(): Array<Record<string, unknown>> {
    let text: string;
    try {
      text = readFileSync(this.options.logFile, 'utf8');
    } catch {
      return [];
    }
    const out: Array<Record<string, unknown>> = [];
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (typeof entry['level'] === 'number' && entry['level'] >= 50) out.push(entry);
      } catch {
        // a line cut by SIGKILL mid-write
      }
    }
    return out;
  }
}
