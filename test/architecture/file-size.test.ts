import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const MAX_LINES = 300;
const REASON = /^\/\/ Over 300 lines on purpose: \S/;

/** A file of more than MAX_LINES lines whose first line does not say why. */
function unexplainedLongFile(text: string): boolean {
  return text.split('\n').length - 1 > MAX_LINES && !REASON.test(text);
}

const sourceFiles = readdirSync('src', { recursive: true, encoding: 'utf8' })
  .filter((file) => file.endsWith('.ts'))
  .map((file) => join('src', file).split('\\').join('/'));

describe('files in src', () => {
  it(`hold at most ${MAX_LINES} lines, or say at their top why`, () => {
    const long = sourceFiles.filter((file) => unexplainedLongFile(readFileSync(file, 'utf8')));
    expect(long).toEqual([]);
  });

  it('the check bites: a long file without its reason is found, with it is not', () => {
    const body = 'export const x = 1;\n'.repeat(MAX_LINES + 1);
    expect(unexplainedLongFile(body)).toBe(true);
    expect(unexplainedLongFile(`// Over 300 lines on purpose: one table.\n${body}`)).toBe(false);
    expect(unexplainedLongFile('export const x = 1;\n'.repeat(MAX_LINES))).toBe(false);
  });
});
