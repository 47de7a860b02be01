import pg from 'pg';
import { loadConfig } from '../../src/shared/infrastructure/config/config.js';
import { createMonolith } from '../../src/entrypoints/bootstrap.js';
import { createLogger } from '../../src/shared/infrastructure/logging/logger.js';
import { MemoryTransport } from '../../src/shared/infrastructure/messaging/memory-transport.js';
import { databaseUrl, dropDatabase, ensureDatabase } from '../../src/dev/provisioning/database.js';

/**
 * The bench's databases on one server: a migrated template, then one clone per system run
 * (so each adapter and style starts from empty tables), all dropped at the end.
 */
export class BenchDatabases {
  private readonly created: string[] = [];
  private clones = 0;

  constructor(
    readonly serverUrl: string,
    readonly runId: string,
  ) {}

  get templateName(): string {
    return `saga_bench_${this.runId}`;
  }

  async createTemplate(): Promise<string> {
    const { databaseUrl: url } = await ensureDatabase(this.serverUrl, this.templateName);
    this.created.push(this.templateName);
    const config = loadConfig({ ...process.env, DATABASE_URL: url, LOG_LEVEL: 'warn' });
    const logger = createLogger({ level: 'warn', name: 'bench-setup' });
    const runtime = await createMonolith({ config, logger, databaseUrl: url, transport: new MemoryTransport(logger) });
    try {
      await runtime.migrate();
    } finally {
      await runtime.close();
    }
    return url;
  }

  /** A fresh, migrated, empty database. */
  async clone(label: string): Promise<string> {
    const name = `${this.templateName}_${label}_${++this.clones}`;
    const client = new pg.Client({ connectionString: databaseUrl(this.serverUrl, 'postgres') });
    await client.connect();
    try {
      await client.query(`create database "${name}" template "${this.templateName}"`);
    } finally {
      await client.end();
    }
    this.created.push(name);
    return databaseUrl(this.serverUrl, name);
  }

  async dropAll(): Promise<void> {
    // Clones first: a template cannot be dropped while a clone is being made from it.
    for (const name of [...this.created].reverse()) {
      await dropDatabase(this.serverUrl, name).catch((error: unknown) =>
        process.stderr.write(`bench: could not drop ${name}: ${String(error)}\n`),
      );
    }
    this.created.length = 0;
  }
}
