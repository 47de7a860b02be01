export {
  endpointsStatus,
  ProvisioningError,
  resolveEndpoints,
  stopEmbedded,
  type EndpointSource,
  type EndpointsStatus,
  type ProvisioningLog,
  type ResolvedEndpoints,
  type ResolveEndpointsOptions,
  withEndpoints,
} from './provisioning.js';
export { assertDatabaseName, checkPostgres, databaseNameOf, databaseUrl, dropDatabase, ensureDatabase, listDatabases } from './database.js';
export { checkRedis, deleteKeysWithPrefix } from './redis.js';
export { provisioningPaths, readEndpointsFile, type EndpointsFile, type ProvisioningPaths } from './endpoints-file.js';
export { maskUrl } from './mask-url.js';
