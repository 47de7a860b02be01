import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { REPEATED_SIGNAL_WINDOW_MS } from '../../src/entrypoints/process.js';

/** Starts the fixture, sends SIGINT at each of `delaysMs` (from the first), returns its exit code and log. */
async function interrupt(delaysMs: number[], drainMs: number): Promise<{ code: number | null; log: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/e2e/fixtures/drain-on-signal.ts'], {
    env: { ...process.env, DRAIN_MS: String(drainMs) },
  });
  let log = '';
  child.stdout.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  while (!log.includes('ready')) await sleep(20);
  const start = Date.now();
  for (const delay of delaysMs) {
    await sleep(Math.max(0, delay - (Date.now() - start)));
    child.kill('SIGINT');
  }
  return { code: await exited, log };
}

describe('one Ctrl-C drains cleanly', () => {
  it('a SIGINT repeated 40 ms later (as tsx re-forwards it) still drains and exits 0', { timeout: 30_000 }, async () => {
    const { code, log } = await interrupt([0, 40], 500);
    expect(log).toContain('stopped cleanly');
    expect(log).not.toContain('second signal');
    expect(code).toBe(0);
  });

  it('a second Ctrl-C after the window exits at once with 1', { timeout: 30_000 }, async () => {
    const { code, log } = await interrupt([0, REPEATED_SIGNAL_WINDOW_MS + 300], REPEATED_SIGNAL_WINDOW_MS + 5_000);
    expect(log).toContain('second signal: exiting now');
    expect(code).toBe(1);
  });
});
