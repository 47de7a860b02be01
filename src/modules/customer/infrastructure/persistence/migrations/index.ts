import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261126000000CustomersInitial } from './Migration20261126000000CustomersInitial.js';
import { Migration20261203000000CustomersDeliveryKeys } from './Migration20261203000000CustomersDeliveryKeys.js';
import { Migration20261203000001CustomersLaunchBreaker } from './Migration20261203000001CustomersLaunchBreaker.js';
import { Migration20261204000000CustomersLaunchProbe } from './Migration20261204000000CustomersLaunchProbe.js';

/** Listed in code (not discovered on disk) so compiled, bundled and test runs apply the same set. */
export const customerMigrations: MigrationObject[] = [
  { name: 'Migration20261126000000CustomersInitial', class: Migration20261126000000CustomersInitial },
  { name: 'Migration20261203000000CustomersDeliveryKeys', class: Migration20261203000000CustomersDeliveryKeys },
  { name: 'Migration20261203000001CustomersLaunchBreaker', class: Migration20261203000001CustomersLaunchBreaker },
  { name: 'Migration20261204000000CustomersLaunchProbe', class: Migration20261204000000CustomersLaunchProbe },
];
