import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** What a lock file holds: who took it, so that a lock left by a dead process can be recognised. */
export interface LockOwner {
  pid: number;
  hostname: string;
  token: string;
  acquiredAt: string;
}

export interface FileLockOptions {
  /** How long to wait for another holder before giving up. Default 3 minutes. */
  timeoutMs?: number;
  pollMs?: number;
  /** A lock older than this is taken over even if its pid is alive (pid reuse, other host). Default 10 minutes. */
  staleAfterMs?: number;
  /** Called once when the lock is held by someone else and we start waiting. */
  onWait?: (owner: LockOwner | undefined) => void;
}

/** A lock file seen on disk. `raw` is compared before breaking it so that we never remove a fresh one. */
interface SeenLock {
  raw: string;
  owner: LockOwner | undefined;
  ageMs: number;
}

/** Runs `fn` while holding the lock file at `path` (created atomically with O_EXCL). */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const release = await acquireFileLock(path, options);
  try {
    return await fn();
  } finally {
    await release();
  }
}

/** Takes the lock, waiting for a live holder and taking over a stale one; returns its release function. */
export async function acquireFileLock(path: string, options: FileLockOptions = {}): Promise<() => Promise<void>> {
  const timeoutMs = options.timeoutMs ?? 180_000;
  const pollMs = options.pollMs ?? 100;
  const staleAfterMs = options.staleAfterMs ?? 10 * 60_000;
  const deadline = Date.now() + timeoutMs;
  const owner: LockOwner = { pid: process.pid, hostname: hostname(), token: randomUUID(), acquiredAt: new Date().toISOString() };
  let waiting = false;
  await mkdir(dirname(path), { recursive: true });

  for (;;) {
    if (await tryCreate(path, owner)) return () => release(path, owner.token);

    const seen = await readLock(path);
    if (seen === undefined) continue; // released between our attempt and our read
    if (isStale(seen, staleAfterMs)) {
      await breakLock(path, seen);
      continue;
    }
    if (!waiting) {
      waiting = true;
      options.onWait?.(seen.owner);
    }
    if (Date.now() >= deadline) {
      const holder = seen.owner ? `pid ${seen.owner.pid} on ${seen.owner.hostname} since ${seen.owner.acquiredAt}` : 'an unknown process';
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for the lock ${path}, held by ${holder}. If that process is gone, delete the file.`,
      );
    }
    await sleep(pollMs);
  }
}

async function tryCreate(path: string, owner: LockOwner): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'wx', 0o644);
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false;
    throw error;
  }
  try {
    await handle.writeFile(JSON.stringify(owner));
  } finally {
    await handle.close();
  }
  return true;
}

async function readLock(path: string): Promise<SeenLock | undefined> {
  try {
    const [raw, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    return { raw, owner: parseOwner(raw), ageMs: Date.now() - info.mtimeMs };
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

function parseOwner(raw: string): LockOwner | undefined {
  try {
    const value: unknown = JSON.parse(raw);
    if (typeof value !== 'object' || value === null) return undefined;
    const { pid, hostname: host, token, acquiredAt } = value as Record<string, unknown>;
    if (typeof pid !== 'number' || typeof host !== 'string' || typeof token !== 'string' || typeof acquiredAt !== 'string')
      return undefined;
    return { pid, hostname: host, token, acquiredAt };
  } catch {
    return undefined;
  }
}

function isStale(seen: SeenLock, staleAfterMs: number): boolean {
  if (seen.ageMs > staleAfterMs) return true;
  // Empty or unreadable: the holder may be between open() and write(); give it a moment.
  if (seen.owner === undefined) return seen.ageMs > 5_000;
  if (seen.owner.hostname !== hostname()) return false;
  return !isProcessAlive(seen.owner.pid);
}

/**
 * Removes a stale lock without ever removing a fresh one: the file is first moved aside (atomic),
 * and if what was moved is not the lock we judged stale (another process broke it and took the lock
 * in between), it is put back.
 */
async function breakLock(path: string, seen: SeenLock): Promise<void> {
  const aside = `${path}.stale-${process.pid}-${randomUUID()}`;
  try {
    await rename(path, aside);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return;
    throw error;
  }
  const moved = await readFile(aside, 'utf8').catch(() => undefined);
  if (moved !== seen.raw) await link(aside, path).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
}

async function release(path: string, token: string): Promise<void> {
  const seen = await readLock(path);
  // Only remove our own lock: after staleAfterMs someone may legitimately have taken it over.
  if (seen?.owner?.token === token) await unlink(path).catch(() => undefined);
}

/** Whether `pid` is a running process. A zombie (exited, not yet reaped by its parent or init) is not. */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if (errorCode(error) !== 'EPERM') return false; // EPERM: exists, but belongs to another user
  }
  return !isZombie(pid);
}

/** Linux only (elsewhere: false). Some inits reap orphans late, so a stopped daemon can linger as a zombie. */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "<pid> (<comm>) <state> ...": comm may contain spaces and parentheses, so look after the last ')'.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    return false;
  }
}

export function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}
