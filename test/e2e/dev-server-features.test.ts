import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cloneRunDatabase, uniquePrefix } from '../support/databases.js';
import { freePort } from '../support/ports.js';

/**
 * `npm run dev` without REDIS_URL, as a newcomer starts it: the Redis it finds (here the machine's,
 * at PROBE_REDIS_URL) is the one every part uses, so ADMIN_QUEUES_UI=true serves bull-board and
 * /metrics has the queue depths; and each optional feature that is off says so in one line.
 */
const children: ChildProcess[] = [];
let dataDir: string | undefined;
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('npm run dev without REDIS_URL', () => {
  it('hands the Redis it found to bull-board and the queue metrics, and says which features are off', { timeout: 120_000 }, async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'saga-dev-features-'));
    const port = await freePort();
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => k !== 'REDIS_URL' && k !== 'DATABASE_URL' && !k.startsWith('OTEL_')),
    );
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/dev/dev-server.ts'], {
      env: {
        ...inherited,
        DATABASE_URL: await cloneRunDatabase(),
        PROBE_REDIS_URL: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
        DATA_DIR: dataDir,
        BULLMQ_PREFIX: uniquePrefix(),
        ADMIN_QUEUES_UI: 'true',
        AUTH_MODE: 'off',
        LOG_LEVEL: 'info',
        PORT: String(port),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 300 && !output.includes('"dev server ready"'); i++) await new Promise((r) => setTimeout(r, 200));
    expect(output).toContain('"dev server ready"');
    expect(output).toMatch(/"sources":\{"database":"env","redis":"probe"\}/);

    expect((await fetch(`${url}/admin/queues`)).status, output).toBe(200);
    expect(await (await fetch(`${url}/metrics`)).text()).toContain('saga_bullmq_jobs');

    const off = output
      .split('\n')
      .filter((l) => l.includes('"feature"'))
      .map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(off).toEqual([
      expect.stringMatching(/^traces off: OTEL_EXPORTER_OTLP_ENDPOINT is not set/),
      expect.stringMatching(/^console sign-in off: CONSOLE_OIDC_CLIENT_ID is not set/),
    ]);

    child.kill('SIGTERM');
    expect(await exited, output).toBe(0);
  });
});
