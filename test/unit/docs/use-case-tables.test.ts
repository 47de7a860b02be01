import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ALL_INBOXES } from '../../../src/entrypoints/composition/inboxes.js';
import { taskEntrypointOf } from '../../../src/dev/deploy/ecs-task-definitions.js';
import { SAGA_STYLES, type ModuleInbox } from '../../../src/shared/contract/routing.js';
import { taskFamilyOf } from '../../../src/shared/infrastructure/messaging/ecs/task-family.js';
import { RoutingTable } from '../../../src/shared/infrastructure/messaging/routing-table.js';

/**
 * The docs' tables that list use cases are checked against the inboxes the contracts declare, so
 * a use case added, removed or rerouted in a contract fails `npm test` until the docs say so.
 */

/** The cells of the first table after `heading` (header and separator rows dropped), backticks removed. */
function tableAfter(markdown: string, heading: string): string[][] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => line.trim() === heading);
  if (start < 0) throw new Error(`no heading ${JSON.stringify(heading)}`);
  const from = lines.findIndex((line, i) => i > start && line.startsWith('|'));
  const rows: string[][] = [];
  for (let i = from; i >= 0 && i < lines.length && lines[i]!.startsWith('|'); i++) {
    rows.push(
      lines[i]!.slice(1, -1)
        .split('|')
        .map((cell) => cell.trim().replaceAll('`', '')),
    );
  }
  return rows.slice(2);
}

const listed = (cell: string): string[] =>
  cell === 'none'
    ? []
    : cell
        .split(',')
        .map((c) => c.trim())
        .sort();

/** What docs/messages.md's two tables get wrong about `inboxes`; empty when they agree. */
function messagesDocProblems(markdown: string, inboxes: readonly ModuleInbox[]): string[] {
  const problems: string[] = [];
  const consumers = tableAfter(markdown, '## Consumers per saga style');
  const types = [...new Set(inboxes.flatMap((i) => [...i.routes.map((r) => r.messageType), ...i.publishes]))].sort();
  const documentedTypes = consumers.map((row) => row[0]!).sort();
  if (JSON.stringify(documentedTypes) !== JSON.stringify(types))
    problems.push(`consumers table lists ${documentedTypes.join(', ')}; the contracts have ${types.join(', ')}`);
  SAGA_STYLES.forEach((style, column) => {
    const routing = new RoutingTable(inboxes, style);
    for (const row of consumers) {
      const expected = routing
        .consumersOf(row[0]!)
        .map((c) => c.useCase)
        .sort();
      const documented = listed(row[column + 1] ?? '');
      if (JSON.stringify(documented) !== JSON.stringify(expected))
        problems.push(
          `${row[0]} under ${style}: the docs say ${documented.join(', ') || 'none'}, the contracts ${expected.join(', ') || 'none'}`,
        );
    }
  });
  const useCases = tableAfter(markdown, '### What each use case does');
  const declared = inboxes.flatMap((i) => [...new Set(i.routes.map((r) => r.useCase))].map((useCase) => ({ useCase, schema: i.schema })));
  const documented = useCases.map((row) => row[0]!).sort();
  const expected = declared.map((d) => d.useCase).sort();
  if (JSON.stringify(documented) !== JSON.stringify(expected))
    problems.push(`use case table lists ${documented.join(', ')}; the contracts route ${expected.join(', ')}`);
  for (const row of useCases) {
    const schema = declared.find((d) => d.useCase === row[0])?.schema;
    if (schema !== undefined && !row[1]!.endsWith(`, ${schema}`))
      problems.push(`${row[0]}: inbox schema is ${schema}, the docs say ${row[1]}`);
  }
  return problems;
}

/** What docs/ecs.md's table of task definitions gets wrong about `inboxes`; empty when they agree. */
function ecsDocProblems(markdown: string, inboxes: readonly ModuleInbox[]): string[] {
  const rows = tableAfter(markdown, '## The task entrypoints').filter((row) => row[0] !== '(sweeper)');
  const expected = [...new Set(inboxes.flatMap((i) => i.routes.map((r) => r.useCase)))]
    .sort()
    .map((useCase) => [useCase, taskFamilyOf(useCase), `node ${taskEntrypointOf(useCase)}`]);
  return JSON.stringify(rows) === JSON.stringify(expected)
    ? []
    : [`task definition table: the docs say ${JSON.stringify(rows)}, the contracts ${JSON.stringify(expected)}`];
}

const MESSAGES = readFileSync('docs/messages.md', 'utf8');
const ECS = readFileSync('docs/ecs.md', 'utf8');

describe("the docs' tables of use cases", () => {
  it('docs/messages.md lists every message type, its consumers per style and every use case, as the contracts route them', () => {
    expect(messagesDocProblems(MESSAGES, ALL_INBOXES)).toEqual([]);
  });

  it('docs/ecs.md lists one task definition per routed use case', () => {
    expect(ecsDocProblems(ECS, ALL_INBOXES)).toEqual([]);
  });

  it('fails on a use case the docs miss, a consumer they misstate and a task definition they lack (the check bites)', () => {
    const withNewUseCase = ALL_INBOXES.map((inbox) =>
      inbox.module === 'order'
        ? {
            ...inbox,
            routes: [
              ...inbox.routes,
              { useCase: 'order.audit-order', messageType: 'order.approved.v1', styles: ['choreography'], key: 'orderId' },
            ],
          }
        : inbox,
    ) as readonly ModuleInbox[];
    expect(messagesDocProblems(MESSAGES, withNewUseCase)).toEqual([
      'order.approved.v1 under choreography: the docs say none, the contracts order.audit-order',
      expect.stringContaining('use case table lists'),
    ]);
    expect(ecsDocProblems(ECS, withNewUseCase)).toHaveLength(1);
    const misstated = MESSAGES.replace('| `order.created.v1` | `customer.reserve-credit` | none |', '| `order.created.v1` | none | none |');
    expect(messagesDocProblems(misstated, ALL_INBOXES)).toEqual([
      'order.created.v1 under choreography: the docs say none, the contracts customer.reserve-credit',
    ]);
  });
});
