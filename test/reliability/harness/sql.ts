import pg from 'pg';

/** A short-lived client of a scenario's database: the suite's own look into (and, for fault injection, under) the system. */
export async function withDatabase<T>(databaseUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function count(client: pg.Client, sql: string, params: readonly unknown[] = []): Promise<number> {
  const result = await client.query<{ n: number }>(`select (${sql})::int as n`, [...params]);
  return result.rows[0]?.n ?? 0;
}

/** A valid W3C traceparent (the envelope check requires one). */
export function traceparentOf(seed: string): string {
  const hex = Buffer.from(seed).toString('hex').padEnd(48, 'a').slice(0, 48);
  return `00-${hex.slice(0, 32)}-${hex.slice(32, 48)}-01`;
}
