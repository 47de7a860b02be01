import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { errorCode } from './lock-file.js';

/**
 * `<DATA_DIR>/endpoints.json`: the addresses the dev tools provisioned, so that every process of the
 * project (dev server, a second terminal, ECS tasks, test runs) finds the same instances. A component
 * taken from DATABASE_URL / REDIS_URL is never recorded here.
 */
export const endpointsFileSchema = z.object({
  databaseUrl: z.string().optional(),
  redisUrl: z.string().optional(),
  startedAt: z.string(),
  updatedAt: z.string(),
  /** Server processes started under DATA_DIR. */
  pids: z.object({
    postgres: z.number().int().positive().optional(),
    redis: z.number().int().positive().optional(),
  }),
  embedded: z.object({
    postgres: z.object({ port: z.number().int(), dataDir: z.string() }).optional(),
    redis: z.object({ port: z.number().int(), dir: z.string() }).optional(),
  }),
});

export type EndpointsFile = z.infer<typeof endpointsFileSchema>;

/** Where provisioning keeps its files under DATA_DIR (resolved against the working directory). */
export interface ProvisioningPaths {
  dataDir: string;
  endpointsFile: string;
  lockFile: string;
  /** Owned by the user the server runs as; holds `data/` (PGDATA), the log and the superuser credentials. */
  postgresDir: string;
  redisDir: string;
}

export function provisioningPaths(dataDir: string): ProvisioningPaths {
  const root = resolve(dataDir);
  return {
    dataDir: root,
    endpointsFile: join(root, 'endpoints.json'),
    lockFile: join(root, 'provision.lock'),
    postgresDir: join(root, 'postgres'),
    redisDir: join(root, 'redis'),
  };
}

/** The file's content, or undefined when there is none or it is unreadable (then it is ignored, not fatal). */
export async function readEndpointsFile(path: string): Promise<EndpointsFile | undefined> {
  let raw: string;
  try {
    raw = await readFile(path, 'utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const parsed = endpointsFileSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Written atomically (temporary file + rename) and readable by its owner only: it holds passwords. */
export async function writeEndpointsFile(path: string, content: EndpointsFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.${randomUUID()}.tmp`;
  await writeFile(temporary, `${JSON.stringify(endpointsFileSchema.parse(content), null, 2)}\n`, { mode: 0o600 });
  await rename(temporary, path);
}

export async function removeEndpointsFile(path: string): Promise<void> {
  await rm(path, { force: true });
}
