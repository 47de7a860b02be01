import pg from 'pg';

/**
 * The one place that constructs `pg` pools and clients (a lint rule refuses `pg` anywhere else in
 * `src`). A `pg.Client` whose server goes away emits 'error'; with no listener, Node throws it and
 * the process dies. pg-pool listens only while a client is idle in the pool and stops listening
 * while it is checked out, so a database restart that catches a client between two statements of
 * a transaction (or waiting on an advisory lock) killed the process. Every client made here has a
 * listener from its creation to its end: the loss is reported to `onLost`, the unit of work on
 * that client fails with the driver's error, and the pool discards the client when it is
 * released (pg-pool drops a client that is no longer queryable) and opens a new one on demand.
 * MikroORM's pools (knex) attach their own listener the same way (ModuleDatabase).
 */
export type ConnectionLost = (error: Error) => void;

export function createPgPool(config: pg.PoolConfig, onLost: ConnectionLost): pg.Pool {
  const pool = new pg.Pool(config);
  // An idle client's error is emitted on the pool (pg-pool's own idle listener).
  pool.on('error', onLost);
  // A new client, once connected and before it is lent: a listener for the rest of its life.
  pool.on('connect', (client) => client.on('error', onLost));
  return pool;
}

export function createPgClient(config: pg.ClientConfig, onLost: ConnectionLost): pg.Client {
  const client = new pg.Client(config);
  client.on('error', onLost);
  return client;
}

/**
 * Network error codes, and SQLSTATEs of a server that went away or cannot take a connection now:
 * class 08 (connection exception), 57P01-57P03 (admin shutdown, crash shutdown, cannot connect
 * now: starting up or in recovery) and 53300 (too many connections).
 */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EPIPE',
  '57P01',
  '57P02',
  '57P03',
  '53300',
]);

/** What `pg`, pg-pool and knex say when a connection was lost, or none could be had. */
const CONNECTION_MESSAGES =
  /Connection terminated|Connection ended unexpectedly|Client has encountered a connection error|Client was closed and is not queryable|timeout exceeded when trying to connect|Knex: Timeout acquiring a connection|connect ECONNREFUSED/i;

/**
 * Whether `error` means "PostgreSQL cannot be reached now" rather than "this statement is wrong":
 * the work can be tried again once the server is back, and it must not count as a failed attempt
 * of a delivery. Looks through `cause` and AggregateError's `errors` (a connection attempt to
 * every address of a host).
 */
export function isConnectionLoss(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 5) return false;
  const { code, cause, errors, message } = error as { code?: unknown; cause?: unknown; errors?: unknown; message?: unknown };
  if (typeof code === 'string' && (CONNECTION_CODES.has(code) || /^08/.test(code))) return true;
  if (typeof message === 'string' && CONNECTION_MESSAGES.test(message)) return true;
  if (Array.isArray(errors) && errors.some((e) => isConnectionLoss(e, depth + 1))) return true;
  return isConnectionLoss(cause, depth + 1);
}

/** The driver's type parsers, for a client that reads some types its own way (a value of `pg`, not a connection). */
export const pgTypes = pg.types;

/**
 * Runs `work` in a transaction on a client of `pool`: BEGIN, then COMMIT when it returns, ROLLBACK
 * when it throws. A client whose transaction failed is not lent again: when PostgreSQL ends a
 * session it sends a FATAL error before it closes the socket, and a client released in between
 * still looks healthy, so the next borrower would meet "Connection terminated". A new connection
 * costs a few milliseconds, on a path that has just failed.
 */
export async function inPgTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let failed = false;
  try {
    await client.query('begin');
    const result = await work(client);
    await client.query('commit');
    return result;
  } catch (error) {
    failed = true;
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    client.release(failed);
  }
}
