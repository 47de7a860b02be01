import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The lint rules that hold an architectural line (beside the dependency rules), each proven to
 * fire on code written to break it, and to let the allowed form through.
 */
describe('lint rules that guard the architecture', () => {
  let eslint: ESLint;
  beforeAll(() => {
    eslint = new ESLint({ cwd: ROOT });
  });

  async function ruleIds(code: string, filePath: string): Promise<string[]> {
    const [result] = await eslint.lintText(code, { filePath });
    return (result?.messages ?? []).map((m) => m.ruleId ?? m.message);
  }

  describe('pg clients come from pg-connections.ts and pools from PostgresDatabase (a client without an error listener dies with its server)', () => {
    const RULE = '@typescript-eslint/no-restricted-imports';

    it.each([
      ['a default import', `import pg from 'pg';\nexport const pool = new pg.Pool();\n`],
      ['a named import', `import { Client } from 'pg';\nexport const client = new Client();\n`],
      ['pg-pool itself', `import Pool from 'pg-pool';\nexport const pool = new Pool();\n`],
    ])('refuses %s in src', async (_name, code) => {
      expect(await ruleIds(code, 'src/shared/infrastructure/messaging/some-adapter.ts')).toContain(RULE);
      expect(await ruleIds(code, 'src/dev/cli/some-tool.ts')).toContain(RULE);
    });

    it('lets types through, and pg-connections.ts itself', async () => {
      expect(await ruleIds(`import type pg from 'pg';\nexport type P = pg.Pool;\n`, 'src/shared/infrastructure/x.ts')).not.toContain(RULE);
      expect(
        await ruleIds(`import pg from 'pg';\nexport const p = new pg.Pool();\n`, 'src/shared/infrastructure/persistence/pg-connections.ts'),
      ).not.toContain(RULE);
    });
  });
});
