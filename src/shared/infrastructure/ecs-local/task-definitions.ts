import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { EcsLocalLogger } from './logger.js';

/**
 * Task definitions of the local ECS endpoint: every `*.json` of a directory is one
 * RegisterTaskDefinition input, registered as revision 1 of its family. Fields that only matter
 * on AWS (cpu, memory, networkMode, roles, secrets, logConfiguration, image...) are accepted and
 * ignored; a container runs `[...entryPoint, ...command]` on this machine.
 *
 * The directory is re-read when a file is added, removed or changed, so regenerating the
 * definitions does not need a restart.
 */

const NAME = /^[A-Za-z0-9_-]{1,255}$/;

const keyValue = z.object({ name: z.string().min(1), value: z.string() });

const containerDefinitionSchema = z.looseObject({
  name: z.string().regex(NAME, 'container name: up to 255 letters, digits, hyphens and underscores'),
  image: z.string().default(''),
  entryPoint: z.array(z.string()).optional(),
  command: z.array(z.string()).optional(),
  environment: z.array(keyValue).default([]),
  essential: z.boolean().default(true),
  /** Seconds between SIGTERM and SIGKILL for this container (ECS' per-container stopTimeout). */
  stopTimeout: z.number().int().min(2).max(120).optional(),
});

const taskDefinitionSchema = z.looseObject({
  family: z.string().regex(NAME, 'family: up to 255 letters, digits, hyphens and underscores'),
  containerDefinitions: z.array(containerDefinitionSchema).min(1, 'containerDefinitions must not be empty'),
  cpu: z.string().optional(),
  memory: z.string().optional(),
});

export interface LocalContainerDefinition {
  readonly name: string;
  readonly image: string;
  /** `[...entryPoint, ...command]`; empty when the definition gives neither. */
  readonly argv: readonly string[];
  readonly entryPoint: readonly string[] | undefined;
  readonly command: readonly string[] | undefined;
  readonly environment: readonly { name: string; value: string }[];
  readonly essential: boolean;
  readonly stopTimeoutMs: number | undefined;
}

export interface LocalTaskDefinition {
  readonly family: string;
  readonly revision: number;
  readonly file: string;
  readonly cpu: string | undefined;
  readonly memory: string | undefined;
  readonly containers: readonly LocalContainerDefinition[];
}

const TASK_DEFINITION_ARN = /^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition\/([^:/]+):(\d+)$/;
const FAMILY_REVISION = /^([^:/]+)(?::(\d+))?$/;

/** `family`, `family:revision` or a task-definition ARN → family and revision (undefined: latest). */
export function parseTaskDefinitionReference(ref: string): { family: string; revision: number | undefined } | undefined {
  const arn = TASK_DEFINITION_ARN.exec(ref);
  if (arn) return { family: arn[1]!, revision: Number(arn[2]) };
  const short = FAMILY_REVISION.exec(ref);
  if (!short) return undefined;
  return { family: short[1]!, revision: short[2] === undefined ? undefined : Number(short[2]) };
}

export function parseTaskDefinition(json: unknown, file: string): LocalTaskDefinition {
  const parsed = taskDefinitionSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`Invalid task definition ${file}: ${problems.join('; ')}`);
  }
  const names = new Set<string>();
  for (const c of parsed.data.containerDefinitions) {
    if (names.has(c.name)) throw new Error(`Invalid task definition ${file}: duplicate container name ${c.name}`);
    names.add(c.name);
  }
  if (!parsed.data.containerDefinitions.some((c) => c.essential)) {
    throw new Error(`Invalid task definition ${file}: at least one container must be essential`);
  }
  return {
    family: parsed.data.family,
    revision: 1,
    file,
    cpu: parsed.data.cpu,
    memory: parsed.data.memory,
    containers: parsed.data.containerDefinitions.map((c) => ({
      name: c.name,
      image: c.image,
      argv: [...(c.entryPoint ?? []), ...(c.command ?? [])],
      entryPoint: c.entryPoint,
      command: c.command,
      environment: c.environment,
      essential: c.essential,
      stopTimeoutMs: c.stopTimeout === undefined ? undefined : c.stopTimeout * 1000,
    })),
  };
}

export class TaskDefinitionDirectory {
  private byFamily = new Map<string, LocalTaskDefinition>();
  private signature: string | undefined;
  private loading: Promise<void> | undefined;

  constructor(
    readonly dir: string,
    private readonly logger: EcsLocalLogger,
  ) {}

  /** Loads the directory once; fails when it cannot be read (a wrong path is a startup error). */
  async init(): Promise<void> {
    const info = await stat(this.dir).catch((err: unknown) => {
      throw new Error(
        `Task definitions directory ${this.dir} cannot be read (${err instanceof Error ? err.message : String(err)}); ` +
          'set ECS_LOCAL_TASK_DEFINITIONS_DIR or generate the task definitions first',
      );
    });
    if (!info.isDirectory()) throw new Error(`Task definitions path ${this.dir} is not a directory`);
    await this.refresh();
  }

  families(): string[] {
    return [...this.byFamily.keys()];
  }

  /** The definition a RunTask `taskDefinition` names, or undefined (only revision 1 exists). */
  async resolve(ref: string): Promise<LocalTaskDefinition | undefined> {
    await this.refresh();
    const parsed = parseTaskDefinitionReference(ref);
    if (!parsed) return undefined;
    const def = this.byFamily.get(parsed.family);
    if (!def) return undefined;
    if (parsed.revision !== undefined && parsed.revision !== def.revision) return undefined;
    return def;
  }

  /** Re-reads the directory when its listing or a file's size/mtime changed. */
  async refresh(): Promise<void> {
    if (this.loading) return this.loading;
    this.loading = this.reloadIfChanged().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async reloadIfChanged(): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => n.endsWith('.json')).sort();
    } catch (err) {
      this.logger.warn({ dir: this.dir, err }, 'cannot read the task definitions directory; keeping the last ones loaded');
      return;
    }
    const stats = await Promise.all(
      names.map(async (n) => {
        const s = await stat(join(this.dir, n)).catch(() => undefined);
        return `${n}:${s?.size ?? -1}:${s?.mtimeMs ?? -1}`;
      }),
    );
    const signature = stats.join('|');
    if (signature === this.signature) return;
    this.signature = signature;

    const next = new Map<string, LocalTaskDefinition>();
    for (const name of names) {
      const file = join(this.dir, name);
      try {
        const def = parseTaskDefinition(JSON.parse(await readFile(file, 'utf8')) as unknown, file);
        const existing = next.get(def.family);
        if (existing) {
          this.logger.error({ file, family: def.family, kept: existing.file }, 'duplicate task definition family; file ignored');
          continue;
        }
        next.set(def.family, def);
      } catch (err) {
        this.logger.error({ file, err: err instanceof Error ? err.message : String(err) }, 'task definition ignored');
      }
    }
    this.byFamily = next;
    this.logger.info({ dir: this.dir, families: [...next.keys()] }, 'task definitions loaded');
  }
}
