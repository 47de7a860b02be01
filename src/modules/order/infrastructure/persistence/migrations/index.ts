import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261126000000OrderingInitial } from './Migration20261126000000OrderingInitial.js';
import { Migration20261203000000OrderingDeliveryKeys } from './Migration20261203000000OrderingDeliveryKeys.js';
import { Migration20261203000001OrderingLaunchBreaker } from './Migration20261203000001OrderingLaunchBreaker.js';
import { Migration20261204000000OrderingLaunchProbe } from './Migration20261204000000OrderingLaunchProbe.js';
import { Migration20261207000000OrderingSagaDefinitionVersion } from './Migration20261207000000OrderingSagaDefinitionVersion.js';

/** Listed in code (not discovered on disk) so compiled, bundled and test runs apply the same set. */
export const orderMigrations: MigrationObject[] = [
  { name: 'Migration20261126000000OrderingInitial', class: Migration20261126000000OrderingInitial },
  { name: 'Migration20261203000000OrderingDeliveryKeys', class: Migration20261203000000OrderingDeliveryKeys },
  { name: 'Migration20261203000001OrderingLaunchBreaker', class: Migration20261203000001OrderingLaunchBreaker },
  { name: 'Migration20261204000000OrderingLaunchProbe', class: Migration20261204000000OrderingLaunchProbe },
  { name: 'Migration20261207000000OrderingSagaDefinitionVersion', class: Migration20261207000000OrderingSagaDefinitionVersion },
];
