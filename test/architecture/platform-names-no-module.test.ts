import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { createMonolith } from '../../src/entrypoints/composition/monolith.js';
import type { ModuleDefinition } from '../../src/shared/infrastructure/composition/module-definition.js';
import { loadConfig } from '../../src/shared/infrastructure/config/config.js';
import { createLogger } from '../../src/shared/infrastructure/logging/logger.js';
import { MemoryTransport } from '../../src/shared/infrastructure/messaging/memory-transport.js';
import { migrateMessaging } from '../../src/shared/infrastructure/persistence/messaging-migrations.js';
import { THREE_INBOXES, THREE_MODULES } from '../fixtures/composition/all-modules.js';
import { cloneRunDatabase } from '../support/databases.js';

/**
 * Principle 7: the platform names no module. No file under src/shared or src/entrypoints names a
 * module, its schema, its tables or its scopes in its code (strings, SQL, paths; comments aside),
 * except the composition root's one list of modules (src/entrypoints/composition/all-modules.ts, the inbox
 * list it re-exports) and each module's task bundle entry (src/entrypoints/tasks/<module>/, the
 * task-level composition root of that one module). What is forbidden is derived from the module
 * definitions, the fixture module's included: their names, schemas and scopes, and the tables
 * their migrations create. A planted fixture proves the check bites for each kind.
 */
type Kind = 'module' | 'schema' | 'table' | 'scope';

interface Identifier {
  readonly kind: Kind;
  readonly value: string;
  readonly pattern: RegExp;
}

interface Finding {
  readonly file: string;
  readonly kind: Kind;
  readonly value: string;
  readonly text: string;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function identifiersOf(modules: readonly ModuleDefinition[], tables: readonly string[]): Identifier[] {
  const word = (value: string) => new RegExp(`(^|[^A-Za-z0-9_])${escape(value)}($|[^A-Za-z0-9_])`);
  return [
    // A module's name as a value: the name alone, an id it prefixes (`order.created.v1`, `order-approve-order`) or a path segment.
    ...modules.map((m) => ({
      kind: 'module' as const,
      value: m.name,
      pattern: new RegExp(`(^${escape(m.name)}$)|((^|[^A-Za-z0-9_.-])${escape(m.name)}(\\.[a-z]|-[a-z]|/))`),
    })),
    ...modules.map((m) => ({ kind: 'schema' as const, value: m.inbox.schema, pattern: word(m.inbox.schema) })),
    ...tables.map((t) => ({ kind: 'table' as const, value: t, pattern: word(t) })),
    ...modules.flatMap((m) =>
      Object.keys(m.scopes ?? {}).map((s) => ({ kind: 'scope' as const, value: s, pattern: new RegExp(escape(s)) })),
    ),
  ];
}

/** The text of every string and template literal of a TypeScript file: what its code says, its comments left out. */
function literalsOf(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const texts: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteralLike(node) || ts.isTemplateLiteralToken(node)) texts.push(node.text);
    node.forEachChild(visit);
  };
  visit(source);
  return texts;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f));
}

/** Where the composition root names its modules: the one list, the inboxes it re-exports, each module's task bundle entry. */
function exempt(root: string, modules: readonly ModuleDefinition[]): (file: string) => boolean {
  const allowed = [join(root, 'src/entrypoints/composition/all-modules.ts'), join(root, 'src/entrypoints/composition/inboxes.ts')];
  const taskEntries = modules.map((m) => join(root, 'src/entrypoints/tasks', m.name) + sep);
  return (file) => allowed.includes(file) || taskEntries.some((dir) => file.startsWith(dir));
}

function platformNamings(root: string, modules: readonly ModuleDefinition[], identifiers: readonly Identifier[]): Finding[] {
  const isExempt = exempt(root, modules);
  const files = ['src/shared', 'src/entrypoints'].flatMap((d) => filesUnder(join(root, d))).filter((f) => !isExempt(f));
  return files.flatMap((file) =>
    literalsOf(file).flatMap((text) =>
      identifiers
        .filter((i) => i.pattern.test(text))
        .map((i) => ({ file: relative(root, file), kind: i.kind, value: i.value, text: text.slice(0, 120) })),
    ),
  );
}

let identifiers: Identifier[];

beforeAll(async () => {
  // The tables each module's migrations create (the fixture's included), less the platform's own.
  const databaseUrl = await cloneRunDatabase();
  const logger = createLogger({ level: 'silent' });
  const config = loadConfig({ ...process.env, DATABASE_URL: databaseUrl });
  const runtime = await createMonolith({
    config,
    logger,
    databaseUrl,
    modules: THREE_MODULES,
    inboxes: THREE_INBOXES,
    transport: new MemoryTransport(logger),
  });
  try {
    await runtime.migrate();
    const db = runtime.modules[0]!.db;
    await migrateMessaging({ schema: 'platform_tables_probe', query: db.query.bind(db), exec: db.exec.bind(db), run: db.run.bind(db) });
    const tablesOf = async (schema: string) =>
      (await db.query<{ t: string }>('select table_name as t from information_schema.tables where table_schema = ?', [schema])).map(
        (r) => r.t,
      );
    const platform = new Set([...(await tablesOf('platform_tables_probe')), 'mikro_orm_migrations']);
    const tables = (await Promise.all(THREE_MODULES.map((m) => tablesOf(m.inbox.schema)))).flat().filter((t) => !platform.has(t));
    identifiers = identifiersOf(THREE_MODULES, [...new Set(tables)]);
  } finally {
    await runtime.close();
  }
});

describe('the platform names no module', () => {
  it('derives what it looks for from the module definitions and their migrations', () => {
    const kinds = (kind: Kind) => identifiers.filter((i) => i.kind === kind).map((i) => i.value);
    expect(kinds('module')).toEqual(THREE_MODULES.map((m) => m.name));
    expect(kinds('schema')).toEqual(THREE_MODULES.map((m) => m.inbox.schema));
    expect(kinds('scope').length).toBeGreaterThanOrEqual(THREE_MODULES.length);
    // Every module owns at least one table of its own; none of the platform's messaging tables is counted.
    expect(kinds('table').length).toBeGreaterThanOrEqual(THREE_MODULES.length);
    expect(kinds('table')).not.toContain('outbox');
    expect(kinds('table')).not.toContain('inbox');
  });

  it('in src/shared and src/entrypoints, outside the composition root', () => {
    expect(platformNamings(process.cwd(), THREE_MODULES, identifiers)).toEqual([]);
  });

  it('is caught in each way it can happen (the planted fixture)', () => {
    const fixture = join(process.cwd(), 'test/architecture/fixtures/platform-naming');
    const findings = platformNamings(fixture, THREE_MODULES, identifiers);
    const byFile = (file: string) => findings.filter((f) => f.file === file).map((f) => `${f.kind}:${f.value}`);
    expect(byFile('src/entrypoints/http/console-by-name.ts')).toContain(`module:${THREE_MODULES[0]!.name}`);
    expect(byFile('src/entrypoints/observability/schema-constant.ts')).toContain(`schema:${THREE_MODULES[0]!.inbox.schema}`);
    expect(byFile('src/shared/infrastructure/operations/table-sql.ts')).toEqual(expect.arrayContaining([expect.stringMatching(/^table:/)]));
    expect(byFile('src/shared/infrastructure/http/scope-list.ts')).toEqual(expect.arrayContaining([expect.stringMatching(/^scope:/)]));
    expect(byFile('src/entrypoints/tasks/fixture-runner.ts')).toContain(`module:${THREE_MODULES.at(-1)!.name}`);
    // What the composition root may name, and what comments say, is not a finding.
    expect(byFile('src/entrypoints/composition/all-modules.ts')).toEqual([]);
    expect(byFile('src/shared/infrastructure/commented.ts')).toEqual([]);
  });
});
