import { createHash } from 'node:crypto';
import type { SessionStore } from '@fastify/session';
import type { Session } from 'fastify';
import { SESSION_SCHEMA_NAME } from './session-schema.js';

/** What the store needs of a database: parameterised statements (`?` placeholders). */
export interface SessionDatabase {
  query<T extends object>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  exec(sql: string, params?: readonly unknown[]): Promise<number>;
}

const TABLE = `"${SESSION_SCHEMA_NAME}".sessions`;
/** Ended sessions are deleted at most this often, by the writes. */
const PURGE_EVERY_MS = 10 * 60_000;

const idHash = (sessionId: string): string => createHash('sha256').update(sessionId, 'utf8').digest('base64url');

/**
 * @fastify/session's store in PostgreSQL, so that every API replica knows every session (a sign-in
 * started on one replica completes on another) and signing out ends the session everywhere.
 * A row ends when the session's cookie does; an ended row is never read and is purged.
 */
export class PgSessionStore implements SessionStore {
  private lastPurge = 0;

  constructor(
    private readonly db: SessionDatabase,
    private readonly now: () => number = Date.now,
  ) {}

  get(sessionId: string, callback: (error: unknown, session?: Session | null) => void): void {
    this.db
      .query<{ data: Session }>(`select data from ${TABLE} where id_hash = ? and expires_at > now()`, [idHash(sessionId)])
      .then(([row]) => callback(null, row?.data ?? null), callback);
  }

  set(sessionId: string, session: Session, callback: (error?: unknown) => void): void {
    const expires = session.cookie.expires ? new Date(session.cookie.expires) : new Date(this.now() + (session.cookie.originalMaxAge ?? 0));
    this.db
      .exec(
        `insert into ${TABLE} (id_hash, data, expires_at) values (?, ?::jsonb, ?)
         on conflict (id_hash) do update set data = excluded.data, expires_at = excluded.expires_at`,
        [idHash(sessionId), JSON.stringify(session), expires],
      )
      .then(() => this.purgeNow())
      .then(() => callback(), callback);
  }

  destroy(sessionId: string, callback: (error?: unknown) => void): void {
    this.db.exec(`delete from ${TABLE} where id_hash = ?`, [idHash(sessionId)]).then(() => callback(), callback);
  }

  private async purgeNow(): Promise<void> {
    if (this.now() - this.lastPurge < PURGE_EVERY_MS) return;
    this.lastPurge = this.now();
    await this.db.exec(`delete from ${TABLE} where expires_at <= now()`);
  }
}
