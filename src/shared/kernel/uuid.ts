/**
 * UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits. Time-ordered ids keep B-tree
 * inserts local and let keyset pagination follow creation order. Uses the Web Crypto global,
 * so the kernel needs no import.
 */
/**
 * What the system calls a UUID, everywhere: RFC 9562 versions 1 to 8 in the RFC variant. The nil and
 * max UUIDs and other variants are not ids this system issues or accepts.
 */
const UUID_SOURCE = '^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$';
const UUID = new RegExp(UUID_SOURCE);

/** The same rule in either case, for text that is lower-cased after validation (JSON schema patterns have no flags). */
export const UUID_PATTERN_ANY_CASE = UUID_SOURCE.replaceAll('a-f]', 'a-fA-F]').replace('[89ab]', '[89abAB]');
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let lastMs = 0;
let sequence = 0;

// Random bytes are drawn 4 KiB at a time: one getRandomValues call per 256 ids, not one per id.
const POOL_SIZE = 4096;
const pool = new Uint8Array(POOL_SIZE);
let poolOffset = POOL_SIZE;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function randomBytes16(): Uint8Array {
  if (poolOffset + 16 > POOL_SIZE) {
    globalThis.crypto.getRandomValues(pool);
    poolOffset = 0;
  }
  const bytes = pool.slice(poolOffset, poolOffset + 16);
  poolOffset += 16;
  return bytes;
}

export function uuidv7(now: number = Date.now()): string {
  // Checked before touching the generator's state: a NaN would reset it and break the ordering.
  if (!Number.isSafeInteger(now) || now < 0 || now > 0xffff_ffff_ffff) {
    throw new RangeError(`uuidv7: timestamp must be an integer number of ms in [0, 2^48), got ${String(now)}`);
  }
  const bytes = randomBytes16();
  // Monotonic within a millisecond: a 12-bit counter in rand_a, reseeded each new millisecond.
  if (now <= lastMs) {
    sequence = (sequence + 1) & 0xfff;
    if (sequence === 0) lastMs += 1;
    now = lastMs;
  } else {
    lastMs = now;
    sequence = ((bytes[6]! & 0x07) << 8) | bytes[7]!;
  }
  // 48-bit milliseconds, big-endian: the high 16 bits and the low 32 bits (bit operations are 32-bit).
  const high = Math.floor(now / 0x1_0000_0000);
  const low = now >>> 0;
  bytes[0] = (high >>> 8) & 0xff;
  bytes[1] = high & 0xff;
  bytes[2] = (low >>> 24) & 0xff;
  bytes[3] = (low >>> 16) & 0xff;
  bytes[4] = (low >>> 8) & 0xff;
  bytes[5] = low & 0xff;
  bytes[6] = 0x70 | ((sequence >> 8) & 0x0f);
  bytes[7] = sequence & 0xff;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const h = (i: number) => HEX[bytes[i]!]!;
  return `${h(0)}${h(1)}${h(2)}${h(3)}-${h(4)}${h(5)}-${h(6)}${h(7)}-${h(8)}${h(9)}-${h(10)}${h(11)}${h(12)}${h(13)}${h(14)}${h(15)}`;
}

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

export function isUuidV7(value: unknown): value is string {
  return typeof value === 'string' && UUID_V7.test(value);
}

/** The smallest UUIDv7 of a millisecond: ids (UUIDv7) at or above it were made at or after it (bounds a scan by primary key). */
export function uuidv7Floor(ms: number): string {
  const hex = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0').slice(-12);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-0000-0000-000000000000`;
}
