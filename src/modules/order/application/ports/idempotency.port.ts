export interface IdempotencyRecord {
  readonly key: string;
  readonly requestHash: string;
  readonly orderId: string;
}

export interface IdempotencyStorePort {
  find(key: string): Promise<IdempotencyRecord | null>;
  /** Forgets keys older than the retention period; returns how many. */
  purgeOlderThan(ms: number): Promise<number>;
  /** Stores the key unless it exists (waiting for a concurrent insert of it to commit); false when it existed. */
  save(record: IdempotencyRecord): Promise<boolean>;
}
