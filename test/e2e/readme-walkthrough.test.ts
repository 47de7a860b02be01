import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { systemsClosedAfterEach } from '../support/system.js';

/**
 * README's walk-through, run as written: each `sh` block in one bash session against a system
 * listening on a port, and each output block that follows one compared byte for byte with what it
 * printed, apart from ids and times (each id stands for the same value everywhere, so the same
 * customer must come back) and the headers a `curl -i` block leaves out (README says it shortens
 * them). Its `sleep 1` ("a moment later") waits until the system has nothing left to deliver.
 */
const start = systemsClosedAfterEach(afterEach);

interface Block {
  readonly lang: string;
  readonly body: string;
  /** Only blank lines between this block and the one before. */
  readonly follows: boolean;
}

export function walkthroughBlocks(readme: string): Block[] {
  const from = readme.indexOf('## Walk-through');
  const to = readme.indexOf('\n## ', from + 1);
  const section = readme.slice(from, to);
  const blocks: Block[] = [];
  const fence = /```(\w*)\n([\s\S]*?)```/g;
  let last = 0;
  for (let m = fence.exec(section); m; m = fence.exec(section)) {
    blocks.push({ lang: m[1]!, body: m[2]!, follows: section.slice(last, m.index).trim() === '' && blocks.length > 0 });
    last = m.index + m[0].length;
  }
  return blocks;
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const TIME = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g;

/** Ids numbered in the order they first appear (across the whole walk-through), times blanked. */
function normalizer(): (text: string) => string {
  const ids = new Map<string, string>();
  return (text) => text.replace(UUID, (id) => ids.get(id) ?? ids.set(id, `<id${ids.size + 1}>`).get(id)!).replace(TIME, '<time>');
}

/** Waits until no delivery is pending and no outbox row unrelayed: what "a moment later" means. */
const QUIET = `sleep() {
  for _ in $(seq 1 300); do
    n=$(command curl -s "$API/admin/deliveries/stats" | jq '[.schemas[] | .outbox.unrelayed + ([.useCases[].counts.pending] | add // 0)] | add')
    [ "$n" = "0" ] && return 0
    command sleep 0.1
  done
  echo "still busy after 30 s" >&2; return 1
}
`;

function bash(script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-e', '-c', script]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A `curl -i` answer against README's shortened one: the status line, the headers it shows, the body. */
function expectShortenedHeaders(actual: string, expected: string): void {
  const [actualHead = '', actualBody = ''] = actual.replace(/\r\n/g, '\n').split('\n\n');
  const [expectedHead = '', expectedBody = ''] = expected.split('\n\n');
  const [expectedStatus, ...expectedHeaders] = expectedHead.split('\n');
  const actualLines = actualHead.split('\n');
  expect(actualLines[0]).toBe(expectedStatus);
  for (const header of expectedHeaders) expect(actualLines.map((l) => l.toLowerCase())).toContain(header.toLowerCase());
  expect(actualBody.trim()).toBe(expectedBody.trim());
}

describe("README's walk-through", () => {
  it('finds the commands and the outputs it shows', () => {
    const blocks = walkthroughBlocks(readFileSync('README.md', 'utf8'));
    expect(blocks.filter((b) => b.lang === 'sh').length).toBeGreaterThanOrEqual(8);
    expect(blocks.filter((b) => b.lang === 'json' && b.follows).length).toBeGreaterThanOrEqual(6);
  });

  it('prints what README shows, apart from ids and times', { timeout: 120_000 }, async () => {
    const system = await start({ env: { EVENT_BUS: 'bullmq', AUTH_MODE: 'off', RATE_LIMIT_MAX: '0', RATE_LIMIT_SAGA_MAX: '0' } });
    const url = await system.app.listen({ host: '127.0.0.1', port: 0 });
    const blocks = walkthroughBlocks(readFileSync('README.md', 'utf8'));
    const commands = blocks.flatMap((b, i) => (b.lang === 'sh' ? [i] : []));
    const script = [
      QUIET,
      ...commands.map((i) => `${blocks[i]!.body.replaceAll('http://127.0.0.1:3000', url)}\necho; echo "@@@ ${i}"`),
    ].join('\n');
    const run = await bash(script);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const outputs = new Map<number, string>();
    let rest = run.stdout;
    for (const i of commands) {
      const marker = `@@@ ${i}\n`;
      const at = rest.indexOf(marker);
      outputs.set(i, rest.slice(0, at));
      rest = rest.slice(at + marker.length);
    }
    const actual = normalizer();
    const expected = normalizer();
    let compared = 0;
    blocks.forEach((block, i) => {
      const command = blocks[i - 1];
      if (block.lang === 'sh' || !block.follows || command?.lang !== 'sh') return;
      const printed = actual(outputs.get(i - 1)!).trim();
      const shown = expected(block.body).trim();
      if (/\bcurl -s -i\b/.test(command.body)) expectShortenedHeaders(printed, shown);
      else expect(printed, command.body).toBe(shown);
      compared++;
    });
    expect(compared).toBeGreaterThanOrEqual(7);
  });
});
