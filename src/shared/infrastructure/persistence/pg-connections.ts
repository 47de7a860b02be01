import pg from 'pg';

/**
 * The one place that constructs a `pg` client outside a pool (a lint rule refuses `pg` anywhere
 * else in `src`): the LISTEN connection of a task, the dev tools' short sessions. A `pg.Client`
 * whose server goes away emits 'error'; with no listener, Node throws it and the process dies.
 * Every client made here has a listener from its creation to its end (ADR 30). Pools are knex's,
 * through MikroORM (`PostgresDatabase`), which attaches one to every client it opens.
 */
export type ConnectionLost = (error: Error) => void;

export function createPgClient(config: pg.ClientConfig, onLost: ConnectionLost): pg.Client {
  const client = new pg.Client(config);
  client.on('error', onLost);
  return client;
}

/** A statement on a session of `onOneConnection`: `$n` parameters, its rows. */
export type SessionQuery = <R extends object = Record<string, unknown>>(sql: string, params?: readonly unknown[]) => Promise<R[]>;

/**
 * Runs `work` in one transaction on one connection of its own, opened for it and closed after
 * it: committed when `work` resolves, rolled back when it throws. What needs the connection
 * count at exactly one (a task giving its lease share back after its pools are closed).
 */
export async function onOneConnection<T>(config: pg.ClientConfig, work: (query: SessionQuery) => Promise<T>): Promise<T> {
  let lost: Error | undefined;
  const client = createPgClient(config, (error) => (lost = error));
  await client.connect();
  try {
    await client.query('begin');
    const query: SessionQuery = async <R extends object>(sql: string, params: readonly unknown[] = []) => {
      if (lost) throw lost;
      return (await client.query<R>(sql, [...params])).rows;
    };
    try {
      const result = await work(query);
      await client.query('commit');
      return result;
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      throw error;
    }
  } finally {
    await client.end().catch(() => undefined);
  }
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
