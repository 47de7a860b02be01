import { ALL_INBOXES, ALL_MODULES } from '../../src/entrypoints/composition/all-modules.js';
import type { ModuleInbox } from '../../src/shared/contract/routing.js';
import type { ModuleDefinition } from '../../src/shared/infrastructure/composition/module-definition.js';
import { THREE_INBOXES, THREE_MODULES } from '../fixtures/composition/all-modules.js';

export interface TestComposition {
  readonly name: string;
  readonly modules: readonly ModuleDefinition[];
  readonly inboxes: readonly ModuleInbox[];
  /** The bundle entry of a module's tasks, when they are not the monolith's (dist/tasks). */
  readonly taskEntryOf?: (module: string) => string;
}

const COMPOSITIONS: Readonly<Record<string, TestComposition>> = {
  monolith: { name: 'monolith', modules: ALL_MODULES, inboxes: ALL_INBOXES },
  'three-modules': {
    name: 'three-modules',
    modules: THREE_MODULES,
    inboxes: THREE_INBOXES,
    taskEntryOf: (m) => `test/fixtures/composition/tasks/${m}/${m}.tasks.ts`,
  },
};

/**
 * What the integration tests host unless a test says otherwise: the monolith's modules, or with
 * TEST_COMPOSITION=three-modules the test tree's composition (the monolith's and the Shipping
 * fixture). Tests derive what they enumerate from the hosted modules and the contracts, so they pass
 * on either: `TEST_COMPOSITION=three-modules npx vitest run test/integration/saga.test.ts` shows that
 * adding a module needs no edit to them.
 */
export function testComposition(): TestComposition {
  const name = process.env['TEST_COMPOSITION'] || 'monolith';
  const composition = COMPOSITIONS[name];
  if (!composition) throw new Error(`TEST_COMPOSITION=${name}: one of ${Object.keys(COMPOSITIONS).join(', ')}`);
  return composition;
}
