import type pg from 'pg';
import type { Logger } from '../logging/logger.js';
import { quoteIdent } from '../persistence/sql-identifier.js';
import { createPgClient } from '../persistence/pg-connections.js';
import { backoffMs } from './backoff.js';
import { inboxChannel } from './inbox-channel.js';

/**
 * What an idle consumer waits on: a ring (a notification, a stop request) or a timeout, whichever
 * comes first. A ring while nobody waits is kept for the next wait, so a notification that arrives
 * between "nothing due" and the start of the wait is not lost.
 */
export class Doorbell {
  private rung = false;
  private waiter: (() => void) | undefined;

  ring(): void {
    if (this.waiter) this.waiter();
    else this.rung = true;
  }

  /** Resolves true when rung (now or earlier, since the last wait), false after `ms`. */
  wait(ms: number): Promise<boolean> {
    if (this.rung) {
      this.rung = false;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(
        () => {
          this.waiter = undefined;
          resolve(false);
        },
        Math.max(0, ms),
      );
      this.waiter = () => {
        clearTimeout(timer);
        this.waiter = undefined;
        resolve(true);
      };
    });
  }
}

export interface InboxListenerOptions {
  readonly databaseUrl: string;
  readonly useCase: string;
  /** Called on each notification of the use case's channel, and each time LISTEN (re)starts. */
  readonly onWake: () => void;
  readonly logger: Logger;
  /** The connection's `application_name` (default `saga-listen:<use case>`). */
  readonly applicationName?: string;
  readonly reconnectBaseMs?: number;
  readonly reconnectMaxMs?: number;
}

/**
 * One dedicated connection (not from a pool: LISTEN belongs to a session) that LISTENs on a use
 * case's inbox channel. Notifications only hurry a consumer along; PostgreSQL's pending
 * deliveries stay the truth, so a lost connection is never fatal: it is logged and opened again
 * with backoff, and since notifications sent meanwhile are lost, each (re)start of LISTEN wakes
 * the consumer once so that it looks for itself.
 */
export class InboxListener {
  private client: pg.Client | undefined;
  /** The client being connected, so that close() can abort a connection attempt that hangs. */
  private candidate: pg.Client | undefined;
  private closed = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryWait: (() => void) | undefined;
  private connecting: Promise<void> | undefined;
  private readonly channel: string;

  constructor(private readonly options: InboxListenerOptions) {
    this.channel = inboxChannel(options.useCase);
  }

  /** True while LISTEN is in effect (for logs and tests). */
  get listening(): boolean {
    return this.client !== undefined;
  }

  /** Starts connecting in the background; never throws, never delays the caller. */
  start(): void {
    if (this.closed || this.connecting) return;
    this.connecting = this.connectLoop().finally(() => {
      this.connecting = undefined;
    });
  }

  /** Stops listening and closes the connection; a connection attempt in progress is abandoned. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryWait?.();
    const pending = [this.candidate, this.client].filter((c): c is pg.Client => c !== undefined);
    this.candidate = undefined;
    this.client = undefined;
    await Promise.all([...pending.map(endQuietly), this.connecting]);
  }

  private async connectLoop(): Promise<void> {
    while (!this.closed) {
      const client: pg.Client = createPgClient(
        {
          connectionString: this.options.databaseUrl,
          application_name: this.options.applicationName ?? `saga-listen:${this.options.useCase}`,
          connectionTimeoutMillis: 5_000,
          keepAlive: true,
          keepAliveInitialDelayMillis: 10_000,
        },
        (error) => this.lost(client, error),
      );
      client.on('end', () => this.lost(client));
      client.on('notification', (message) => {
        if (message.channel === this.channel) this.options.onWake();
      });
      this.candidate = client;
      try {
        await client.connect();
        await client.query(`listen ${quoteIdent(this.channel)}`);
      } catch (error) {
        this.candidate = undefined;
        void endQuietly(client);
        if (this.closed) return;
        this.attempt += 1;
        const delay = backoffMs(this.attempt, this.options.reconnectBaseMs ?? 100, this.options.reconnectMaxMs ?? 5_000);
        this.options.logger.warn(
          { err: error, attempt: this.attempt, retryInMs: delay },
          'inbox listener could not listen; polling meanwhile',
        );
        await this.pause(delay);
        continue;
      }
      this.candidate = undefined;
      if (this.closed) {
        await endQuietly(client);
        return;
      }
      this.client = client;
      if (this.attempt > 0) this.options.logger.info({ attempts: this.attempt, channel: this.channel }, 'inbox listener listening again');
      this.attempt = 0;
      // Whatever was committed before LISTEN took effect was announced to nobody: look once.
      this.options.onWake();
      return;
    }
  }

  private lost(client: pg.Client, error?: Error): void {
    if (this.client !== client) return;
    this.client = undefined;
    void endQuietly(client);
    if (this.closed) return;
    this.options.logger.warn({ err: error, channel: this.channel }, 'inbox listener lost its connection; reconnecting, polling meanwhile');
    this.attempt = 1;
    this.start();
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.retryWait = resolve;
      this.retryTimer = setTimeout(resolve, ms);
    });
  }
}

/** Ends a client without waiting long for a server that no longer answers. */
async function endQuietly(client: pg.Client): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([client.end().catch(() => undefined), new Promise<void>((r) => (timer = setTimeout(r, 1_000)))]);
  clearTimeout(timer);
}
