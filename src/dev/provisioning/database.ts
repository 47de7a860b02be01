import type pg from 'pg';
import { createPgClient } from '../../shared/infrastructure/persistence/pg-connections.js';
import { describeError, PROBE_TIMEOUT_MS, type ProbeResult } from './probe.js';

const DATABASE_NAME = /^[a-z_][a-z0-9_]*$/;
/** PostgreSQL truncates identifiers longer than this (NAMEDATALEN - 1). */
const MAX_IDENTIFIER_LENGTH = 63;
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

export interface DatabaseConnectOptions {
  connectTimeoutMs?: number;
}

/** Throws unless `name` is a plain lower-case identifier that needs no quoting (and so cannot inject SQL). */
export function assertDatabaseName(name: string): void {
  if (!DATABASE_NAME.test(name) || name.length > MAX_IDENTIFIER_LENGTH) {
    throw new Error(
      `Invalid database name ${JSON.stringify(name)}: use lower-case letters, digits and _ (matching ${DATABASE_NAME.source}), at most ${MAX_IDENTIFIER_LENGTH} characters`,
    );
  }
}

/** The same server address with another database. */
export function databaseUrl(serverUrl: string, name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** The database named in a connection URL, if any. */
export function databaseNameOf(url: string): string | undefined {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  return name === '' ? undefined : name;
}

async function connect(url: string, connectTimeoutMs: number): Promise<pg.Client> {
  // A server going away under the client fails the statement in flight, never the process.
  const client = createPgClient({ connectionString: url, connectionTimeoutMillis: connectTimeoutMs }, () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return client;
}

async function withClient<T>(url: string, connectTimeoutMs: number, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect(url, connectTimeoutMs);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function sqlState(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

/**
 * Runs `fn` on the server's maintenance database: `postgres`, or `template1` on a server that has
 * no `postgres` database.
 */
async function withMaintenanceClient<T>(serverUrl: string, connectTimeoutMs: number, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  try {
    return await withClient(databaseUrl(serverUrl, 'postgres'), connectTimeoutMs, fn);
  } catch (error) {
    if (sqlState(error) !== '3D000') throw error; // invalid_catalog_name: no `postgres` database
    return withClient(databaseUrl(serverUrl, 'template1'), connectTimeoutMs, fn);
  }
}

/** Whether the database at `url` accepts a connection and answers `select 1`. */
export async function checkPostgres(url: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<ProbeResult> {
  try {
    await withClient(url, timeoutMs, (client) => client.query('select 1'));
    return { ok: true };
  } catch (error) {
    return { ok: false, reason: describeError(error) };
  }
}

/**
 * Creates database `name` on the server `serverUrl` points at (any database of it) unless it exists.
 * Safe to call from several processes at once.
 */
export async function ensureDatabase(
  serverUrl: string,
  name: string,
  options: DatabaseConnectOptions = {},
): Promise<{ databaseUrl: string; created: boolean }> {
  assertDatabaseName(name);
  const created = await withMaintenanceClient(serverUrl, options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, async (client) => {
    const existing = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (existing.rowCount !== 0) return false;
    try {
      await client.query(`create database "${name}"`);
      return true;
    } catch (error) {
      // Another process created it between our check and our CREATE.
      const state = sqlState(error);
      if (state === '42P04' /* duplicate_database */ || state === '23505' /* unique_violation */) return false;
      throw error;
    }
  });
  return { databaseUrl: databaseUrl(serverUrl, name), created };
}

/**
 * Drops database `name` if it exists. With `force` (the default) open connections are terminated
 * first: `WITH (FORCE)` on PostgreSQL 13 and later, `pg_terminate_backend` before that.
 * Returns whether a database was dropped.
 */
export async function dropDatabase(
  serverUrl: string,
  name: string,
  options: DatabaseConnectOptions & { force?: boolean } = {},
): Promise<boolean> {
  assertDatabaseName(name);
  const force = options.force ?? true;
  return withMaintenanceClient(serverUrl, options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, async (client) => {
    const existing = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (existing.rowCount === 0) return false;
    if (!force) {
      await client.query(`drop database if exists "${name}"`);
      return true;
    }
    const version = await client.query<{ v: string }>("select current_setting('server_version_num') as v");
    if (Number(version.rows[0]?.v ?? 0) >= 130_000) {
      await client.query(`drop database if exists "${name}" with (force)`);
    } else {
      await client.query('update pg_database set datallowconn = false where datname = $1', [name]);
      await client.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name]);
      await client.query(`drop database if exists "${name}"`);
    }
    return true;
  });
}

/** Names of the databases on the server whose name starts with `prefix`. */
export async function listDatabases(serverUrl: string, prefix = '', options: DatabaseConnectOptions = {}): Promise<string[]> {
  return withMaintenanceClient(serverUrl, options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, async (client) => {
    const result = await client.query<{ datname: string }>(
      'select datname from pg_database where left(datname, length($1)) = $1 order by datname',
      [prefix],
    );
    return result.rows.map((row) => row.datname);
  });
}
