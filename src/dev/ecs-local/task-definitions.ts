import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { EcsLocalLogger } from './logger.js';

/**
 * Task definitions of the local ECS endpoint: every `*.json` of a directory is one
 * RegisterTaskDefinition input, registered as revision 1 of its family; RegisterTaskDefinition
 * adds revisions 2, 3... and DeregisterTaskDefinition makes one INACTIVE, as on ECS: a bare family
 * runs its latest ACTIVE revision, `family:N` exactly revision N, and an INACTIVE one is refused.
 * Fields that only matter on AWS (cpu, memory, roles, secrets, logConfiguration, image...) are
 * accepted and ignored, except what RunTask validates (networkMode, requiresCompatibilities); a
 * container runs `[...entryPoint, ...command]` on this machine.
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
  networkMode: z.enum(['awsvpc', 'bridge', 'host', 'none']).optional(),
  requiresCompatibilities: z.array(z.string()).optional(),
  runtimePlatform: z.looseObject({ cpuArchitecture: z.enum(['X86_64', 'ARM64']).optional() }).optional(),
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
  readonly networkMode: string | undefined;
  readonly requiresCompatibilities: readonly string[];
  /** `runtimePlatform.cpuArchitecture`; ECS runs X86_64 when the definition names none. */
  readonly cpuArchitecture: 'X86_64' | 'ARM64';
  readonly containers: readonly LocalContainerDefinition[];
  /** The definition as registered (DescribeTaskDefinition echoes it). */
  readonly raw: Record<string, unknown>;
}

export type TaskDefinitionStatus = 'ACTIVE' | 'INACTIVE';

/** Whether RunTask must be given an awsvpc network configuration (subnets) for this definition. */
export function needsAwsvpc(def: LocalTaskDefinition): boolean {
  return def.networkMode === 'awsvpc' || def.requiresCompatibilities.includes('FARGATE');
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

export function parseTaskDefinition(json: unknown, file: string, revision = 1): LocalTaskDefinition {
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
    revision,
    file,
    cpu: parsed.data.cpu,
    memory: parsed.data.memory,
    networkMode: parsed.data.networkMode,
    requiresCompatibilities: parsed.data.requiresCompatibilities ?? [],
    cpuArchitecture: parsed.data.runtimePlatform?.cpuArchitecture ?? 'X86_64',
    raw: parsed.data as Record<string, unknown>,
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
  /** Revisions registered through the API (after the directory's revision 1, if any), per family; kept across reloads. */
  private readonly registered = new Map<string, LocalTaskDefinition[]>();
  /** `family:revision` of every deregistered revision. */
  private readonly inactive = new Set<string>();
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
    return [...new Set([...this.byFamily.keys(), ...this.registered.keys()])];
  }

  /** The revision a `taskDefinition` reference names (a bare family: its latest ACTIVE one), or undefined. */
  async resolve(ref: string): Promise<{ definition: LocalTaskDefinition; status: TaskDefinitionStatus } | undefined> {
    await this.refresh();
    const parsed = parseTaskDefinitionReference(ref);
    if (!parsed) return undefined;
    const revisions = this.revisionsOf(parsed.family);
    const status = (d: LocalTaskDefinition): TaskDefinitionStatus =>
      this.inactive.has(`${d.family}:${d.revision}`) ? 'INACTIVE' : 'ACTIVE';
    const definition =
      parsed.revision === undefined
        ? revisions.filter((d) => status(d) === 'ACTIVE').at(-1)
        : revisions.find((d) => d.revision === parsed.revision);
    return definition ? { definition, status: status(definition) } : undefined;
  }

  /** RegisterTaskDefinition: the next revision of the family (a family seen for the first time starts at 1). */
  async register(json: unknown): Promise<LocalTaskDefinition> {
    await this.refresh();
    const family = (json as { family?: unknown } | null)?.family;
    const revisions = typeof family === 'string' ? this.revisionsOf(family) : [];
    const definition = parseTaskDefinition(json, '(registered)', (revisions.at(-1)?.revision ?? 0) + 1);
    this.registered.set(definition.family, [...(this.registered.get(definition.family) ?? []), definition]);
    return definition;
  }

  /** DeregisterTaskDefinition: the revision becomes INACTIVE (tasks running it go on). */
  async deregister(family: string, revision: number): Promise<LocalTaskDefinition | undefined> {
    await this.refresh();
    const definition = this.revisionsOf(family).find((d) => d.revision === revision);
    if (definition) this.inactive.add(`${family}:${revision}`);
    return definition;
  }

  private revisionsOf(family: string): LocalTaskDefinition[] {
    const first = this.byFamily.get(family);
    return [...(first ? [first] : []), ...(this.registered.get(family) ?? [])];
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
