import { spawn } from 'node:child_process';

export interface RunOptions {
  /** Run as this user (only possible as root). */
  uid?: number;
  gid?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion and collects its output. The child gets its own process group, so
 * whatever it leaves running (a daemonised server) is not taken down by a Ctrl-C aimed at us.
 */
export function runCommand(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      uid: options.uid,
      gid: options.gid,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let settled = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            child.kill('SIGKILL');
            finish(() => reject(new Error(`${command} ${args.join(' ')} did not finish within ${options.timeoutMs} ms`)));
          }, options.timeoutMs);
    const finish = (settle: () => void): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      settle();
    };
    child.on('error', (error) => finish(() => reject(error)));
    child.on('exit', (code, signal) => {
      // 'close' waits for the output pipes; a grandchild that kept them open must not hold us forever.
      const done = (): void => finish(() => resolvePromise({ code, signal, stdout, stderr }));
      const grace = setTimeout(done, 500);
      child.on('close', () => {
        clearTimeout(grace);
        done();
      });
    });
  });
}
