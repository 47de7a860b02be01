import { setTimeout as sleep } from 'node:timers/promises';
import { beforeEach, expect, it } from 'vitest';
import type { IdempotencyRecord, IdempotencyStorePort } from '../../../src/modules/order/application/ports/idempotency.port.js';
import { uuidv7 } from '../../../src/shared/kernel/index.js';
import type { OpenStore, Store } from './store.js';

const record = (key: string, requestHash = 'hash-a'): IdempotencyRecord => ({ key, requestHash, orderId: uuidv7() });

/** What every IdempotencyStorePort does: the in-memory fake and PostgreSQL alike. */
export function idempotencyStoreContract(open: OpenStore<Store<IdempotencyStorePort>>): void {
  let keys: IdempotencyStorePort;
  let tx: Store<IdempotencyStorePort>['transaction'];

  beforeEach(async () => {
    ({ port: keys, transaction: tx } = await open());
  });

  it('stores a new key and finds it', async () => {
    const first = record(`key-${uuidv7()}`);
    expect(await tx.run(() => keys.save(first))).toBe(true);
    expect(await keys.find(first.key)).toEqual(first);
  });

  it('finds nothing for an unknown key', async () => {
    expect(await keys.find(`key-${uuidv7()}`)).toBeNull();
  });

  it('keeps the first record of a replayed key and says it existed', async () => {
    const key = `key-${uuidv7()}`;
    const first = record(key, 'hash-a');
    await tx.run(() => keys.save(first));
    expect(await tx.run(() => keys.save(record(key, 'hash-b')))).toBe(false);
    expect(await keys.find(key)).toEqual(first);
  });

  it('lets one of two concurrent saves of a key win', async () => {
    const key = `key-${uuidv7()}`;
    const results = await Promise.all([tx.run(() => keys.save(record(key, 'hash-a'))), tx.run(() => keys.save(record(key, 'hash-b')))]);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await keys.find(key))?.requestHash).toBe(results[0] ? 'hash-a' : 'hash-b');
  });

  it('keeps nothing of a transaction that failed', async () => {
    const key = `key-${uuidv7()}`;
    await expect(
      tx.run(async () => {
        await keys.save(record(key));
        throw new Error('a later step failed');
      }),
    ).rejects.toThrow('a later step failed');
    expect(await keys.find(key)).toBeNull();
  });

  it('purges keys older than the retention, keeps the younger ones, and a purged key can be used again', async () => {
    const old = record(`key-${uuidv7()}`);
    await tx.run(() => keys.save(old));
    await sleep(300);
    const young = record(`key-${uuidv7()}`);
    await tx.run(() => keys.save(young));

    expect(await tx.run(() => keys.purgeOlderThan(60_000))).toBe(0);
    expect(await tx.run(() => keys.purgeOlderThan(150))).toBe(1);
    expect(await keys.find(old.key)).toBeNull();
    expect(await keys.find(young.key)).toEqual(young);
    expect(await tx.run(() => keys.save(record(old.key, 'hash-b')))).toBe(true);
  });
}
