// Lint for the whole tree: typescript-eslint's recommended rules and the house limit on function
// size. Layout is Prettier's job (npm run format:check); nothing here argues about it.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const node = Object.fromEntries(
  ['process', 'console', 'Buffer', 'URL', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'NodeJS'].map(
    (name) => [name, 'readonly'],
  ),
);

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'node_modules/',
      '.data/',
      'coverage/',
      'bench/results/',
      'test/reliability/dist/',
      'test/architecture/fixtures/',
      'deploy/cdk/cdk.out/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: node },
    rules: {
      // A function should fit on a screen and be read at once.
      'max-lines-per-function': ['error', { max: 60, skipBlankLines: true, skipComments: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // A pg client without an 'error' listener kills the process when PostgreSQL restarts: in src,
    // clients come from pg-connections.ts, which attaches one, and pools are MikroORM's (knex
    // listens on every client it opens). Types may be imported.
    files: ['src/**/*.ts'],
    ignores: ['src/shared/infrastructure/persistence/pg-connections.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'pg',
              allowTypeImports: true,
              message:
                'Create clients with createPgClient (pg-connections.ts), which listens for a lost connection; borrow pooled ones from PostgresDatabase.',
            },
            {
              name: 'pg-pool',
              allowTypeImports: true,
              message: 'Borrow pooled connections from PostgresDatabase (one pool per database, listening for a lost connection).',
            },
          ],
        },
      ],
    },
  },
  {
    // The listed exceptions to the function size, each a table or a script read top to bottom:
    // a test file's describe() holds its suite; a contract suite is one factory of cases;
    // the consistency checks are a list of invariant queries; the messaging tables are one DDL
    // template; the benchmark drivers and the reliability scenarios run their phases in order.
    files: [
      'test/**/*.test.ts',
      'test/integration/persistence/*.contract.ts',
      'src/dev/cli/consistency/consistency-checks.ts',
      'src/shared/infrastructure/persistence/messaging-tables.ts',
      'bench/**/*.ts',
      'test/reliability/**/*.ts',
    ],
    rules: { 'max-lines-per-function': 'off' },
  },
);
