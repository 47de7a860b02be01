import { beforeEach, describe, expect, it, vi } from 'vitest';
import { isUuid, isUuidV7, UUID_PATTERN_ANY_CASE, uuidv7 } from '../../../../src/shared/kernel/uuid.js';

type UuidModule = typeof import('../../../../src/shared/kernel/uuid.js');

/** A fresh copy of the module, so that the generator's per-process state starts empty. */
async function freshGenerator(): Promise<UuidModule['uuidv7']> {
  vi.resetModules();
  const mod: UuidModule = await import('../../../../src/shared/kernel/uuid.js');
  return mod.uuidv7;
}

const hex = (id: string) => id.replace(/-/g, '');
/** The 48-bit Unix-milliseconds timestamp of a UUIDv7. */
const timestampOf = (id: string) => parseInt(hex(id).slice(0, 12), 16);
/** The 12-bit rand_a field (after the version nibble), used here as the in-millisecond counter. */
const randAOf = (id: string) => parseInt(hex(id).slice(13, 16), 16);
const byteAt = (id: string, i: number) => parseInt(hex(id).slice(2 * i, 2 * i + 2), 16);

describe('uuidv7 format', () => {
  it('is a lowercase 8-4-4-4-12 UUID', () => {
    const id = uuidv7();
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(isUuid(id)).toBe(true);
    expect(isUuidV7(id)).toBe(true);
  });

  it('sets the version bits to 0111 and the variant bits to 10 on every id', () => {
    for (let i = 0; i < 2_000; i++) {
      const id = uuidv7();
      expect(byteAt(id, 6) >> 4).toBe(0x7);
      expect(byteAt(id, 8) >> 6).toBe(0b10);
      expect(id[14]).toBe('7');
      expect('89ab').toContain(id[19]);
    }
  });

  it('is unique', () => {
    const ids = Array.from({ length: 20_000 }, () => uuidv7());
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('has random bits after the counter', () => {
    const tails = new Set(Array.from({ length: 100 }, () => hex(uuidv7()).slice(17)));
    expect(tails.size).toBe(100);
  });
});

describe('uuidv7 timestamp', () => {
  let gen: UuidModule['uuidv7'];
  beforeEach(async () => {
    gen = await freshGenerator();
  });

  it('encodes the given Unix milliseconds in the first 48 bits, big-endian', () => {
    const t = Date.UTC(2024, 4, 1, 12, 34, 56, 789);
    const id = gen(t);
    expect(timestampOf(id)).toBe(t);
    expect(hex(id).slice(0, 12)).toBe(t.toString(16).padStart(12, '0'));
  });

  it('encodes the largest 48-bit timestamp', () => {
    const t = 2 ** 48 - 1;
    expect(hex(gen(t)).slice(0, 12)).toBe('ffffffffffff');
  });

  it('defaults to the current time', () => {
    const before = Date.now();
    const id = gen();
    const after = Date.now();
    expect(timestampOf(id)).toBeGreaterThanOrEqual(before);
    expect(timestampOf(id)).toBeLessThanOrEqual(after);
  });

  it('never goes backwards when the clock does: it keeps the last timestamp and counts on', () => {
    const t = Date.UTC(2030, 0, 1);
    const first = gen(t);
    const second = gen(t - 1_000);
    expect(timestampOf(second)).toBe(t);
    expect(second > first).toBe(true);
    expect(randAOf(second)).toBe(randAOf(first) + 1);
  });

  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['a fraction', 1.5],
    ['a negative number', -1],
    ['2**48 (does not fit in 48 bits)', 2 ** 48],
  ])('refuses %s as the timestamp with a RangeError', (_label, now) => {
    expect(() => gen(now)).toThrow(RangeError);
  });

  it('keeps its ordering after refusing a bad timestamp', () => {
    const t = Date.UTC(2030, 0, 1);
    const first = gen(t);
    expect(() => gen(Number.NaN)).toThrow(RangeError);
    const second = gen(t - 10);
    expect(timestampOf(second)).toBe(t);
    expect(second > first).toBe(true);
  });
});

describe('uuidv7 ordering within a millisecond', () => {
  let gen: UuidModule['uuidv7'];
  beforeEach(async () => {
    gen = await freshGenerator();
  });

  it('seeds the counter of a new millisecond at random in its lower half, leaving room to count', () => {
    const seeds = new Set<number>();
    for (let ms = 1; ms <= 200; ms++) {
      const seed = randAOf(gen(Date.UTC(2030, 0, 1) + ms));
      expect(seed).toBeLessThanOrEqual(0x7ff);
      seeds.add(seed);
    }
    expect(seeds.size).toBeGreaterThan(100);
  });

  it('sorting many ids of the same millisecond gives the generation order', () => {
    const t = Date.UTC(2030, 0, 1);
    const ids = Array.from({ length: 2_000 }, () => gen(t));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    // Counted one by one within the millisecond.
    for (let i = 1; i < ids.length; i++) {
      const [prev, cur] = [ids[i - 1]!, ids[i]!];
      if (timestampOf(cur) === timestampOf(prev)) expect(randAOf(cur)).toBe(randAOf(prev) + 1);
    }
  });

  it('moves to the next millisecond when the 12-bit counter is exhausted, staying ordered', () => {
    const t = Date.UTC(2030, 0, 1);
    const ids = Array.from({ length: 10_000 }, () => gen(t));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    const stamps = ids.map(timestampOf);
    expect(stamps[0]).toBe(t);
    // 10,000 ids need at least 3 and at most 4 extra milliseconds (4,096 ids per millisecond at most).
    expect(stamps.at(-1)! - t).toBeGreaterThanOrEqual(2);
    expect(stamps.at(-1)! - t).toBeLessThanOrEqual(4);
    for (let i = 1; i < ids.length; i++) expect(stamps[i]!).toBeGreaterThanOrEqual(stamps[i - 1]!);
    // The real clock catching up with the borrowed milliseconds keeps the order too.
    const next = gen(t + 1);
    expect(next > ids.at(-1)!).toBe(true);
  });

  it('sorting ids generated in a tight loop on the real clock gives the generation order', () => {
    const ids = Array.from({ length: 20_000 }, () => gen());
    expect([...ids].sort()).toEqual(ids);
    const perMs = new Map<number, number>();
    for (const id of ids) perMs.set(timestampOf(id), (perMs.get(timestampOf(id)) ?? 0) + 1);
    // The loop is far faster than 1 id/ms, so many ids share a millisecond: the counter is exercised.
    expect(Math.max(...perMs.values())).toBeGreaterThan(1);
  });
});

describe('isUuid / isUuidV7', () => {
  const v4 = '3f2504e0-4f89-41d3-9a0c-0305e82c3301';
  const v7 = '01890a5d-ac96-774b-bcce-b302099a8057';

  it('accepts RFC 9562 UUIDs; isUuidV7 only version 7', () => {
    expect(isUuid(v4)).toBe(true);
    expect(isUuid(v7)).toBe(true);
    expect(isUuidV7(v7)).toBe(true);
    expect(isUuidV7(v4)).toBe(false);
  });

  it.each([
    ['uppercase', v7.toUpperCase()],
    ['nil', '00000000-0000-0000-0000-000000000000'],
    ['max', 'ffffffff-ffff-ffff-ffff-ffffffffffff'],
    ['version 0', '01890a5d-ac96-074b-bcce-b302099a8057'],
    ['version 9', '01890a5d-ac96-974b-bcce-b302099a8057'],
    ['NCS variant (0xxx)', '01890a5d-ac96-774b-7cce-b302099a8057'],
    ['Microsoft variant (110x)', '01890a5d-ac96-774b-ccce-b302099a8057'],
    ['without hyphens', hex(v7)],
    ['in braces', `{${v7}}`],
    ['a URN', `urn:uuid:${v7}`],
    ['too short', v7.slice(0, -1)],
    ['too long', `${v7}0`],
    ['with a trailing newline', `${v7}\n`],
    ['empty', ''],
  ])('refuses %s', (_label, value) => {
    expect(isUuid(value)).toBe(false);
    expect(isUuidV7(value)).toBe(false);
    // The HTTP schemas' pattern is the same rule in either case.
    expect(new RegExp(UUID_PATTERN_ANY_CASE).test(value)).toBe(value === v7.toUpperCase());
  });

  it('the any-case pattern accepts what isUuid accepts, in either case', () => {
    for (const id of [v4, v7, uuidv7()]) {
      expect(new RegExp(UUID_PATTERN_ANY_CASE).test(id)).toBe(true);
      expect(new RegExp(UUID_PATTERN_ANY_CASE).test(id.toUpperCase())).toBe(true);
    }
  });

  it('refuses non-strings', () => {
    for (const value of [undefined, null, 7, {}, [v7], new String(v7)]) {
      expect(isUuid(value)).toBe(false);
      expect(isUuidV7(value)).toBe(false);
    }
  });
});
