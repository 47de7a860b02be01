// Over 300 lines on purpose: the stand-in for Fargate's task lifecycle (PROVISIONING → RUNNING → STOPPED, start
// delays, stop codes, kills, exits) is one state machine; split, its transitions would be read across files.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { clusterArn, containerArn, taskArn, taskDefinitionArn } from './arns.js';
import type { EcsLocalLogger } from './logger.js';
import type { LocalContainerDefinition, LocalTaskDefinition } from './task-definitions.js';

/**
 * Runs local ECS tasks: one child process per container (spawned without a shell, cwd = the
 * project root), tracked PROVISIONING → RUNNING → STOPPING → STOPPED like an ECS task.
 *
 * Stopping mirrors `docker stop` as ECS uses it: SIGTERM to the container's main process, then,
 * after the container's `stopTimeout` (or the endpoint's default grace), SIGKILL to its whole
 * process group. Children run in their own process group, so a Ctrl-C in the endpoint's terminal
 * reaches only the endpoint, which then stops its tasks in that order.
 */

export type TaskLastStatus = 'PROVISIONING' | 'RUNNING' | 'STOPPING' | 'STOPPED';
export type TaskStopCode = 'TaskFailedToStart' | 'EssentialContainerExited' | 'UserInitiated' | 'TerminationNotice' | 'SpotInterruption';

/** The `stoppedReason` of a Fargate Spot task whose capacity AWS took back. */
export const SPOT_INTERRUPTED_REASON = 'Your Spot Task was interrupted.';
export type ContainerLastStatus = 'PENDING' | 'RUNNING' | 'STOPPED';

export interface KeyValuePair {
  name: string;
  value: string;
}

export interface ContainerOverride {
  name: string;
  command?: string[];
  environment?: KeyValuePair[];
  cpu?: number;
  memory?: number;
  memoryReservation?: number;
}

export interface TaskOverrides {
  containerOverrides?: ContainerOverride[];
  cpu?: string;
  memory?: string;
  taskRoleArn?: string;
  executionRoleArn?: string;
}

export interface Tag {
  key: string;
  value: string;
}

export interface LaunchParams {
  region: string;
  cluster: string;
  definition: LocalTaskDefinition;
  overrides: TaskOverrides | undefined;
  startedBy: string | undefined;
  group: string | undefined;
  tags: Tag[];
  launchType: string | undefined;
  capacityProviderName: string | undefined;
  startDelayMs: number;
  /** The task never starts: after its start delay it stops with TaskFailedToStart and this reason (an image pull or secret failure). */
  startFailure?: string;
}

export interface ContainerRun {
  readonly id: string;
  /** Fargate's `<task id>-<uint32>`: the DockerId the task metadata endpoint reports, and its path. */
  readonly dockerId: string;
  readonly def: LocalContainerDefinition;
  lastStatus: ContainerLastStatus;
  exitCode: number | undefined;
  reason: string | undefined;
  pid: number | undefined;
  child: ChildProcess | undefined;
  killTimer: NodeJS.Timeout | undefined;
  finished: boolean;
  /** When its process was created, started (spawned) and exited: the metadata's CreatedAt, StartedAt, FinishedAt. */
  createdAt: Date | undefined;
  startedAt: Date | undefined;
  finishedAt: Date | undefined;
}

export class LocalTask {
  readonly id: string;
  readonly arn: string;
  readonly seq: number;
  readonly createdAt = new Date();
  /** The simulated image pull: from the launch to the end of the start delay (unset when the task never got its image). */
  readonly pullStartedAt = new Date();
  pullStoppedAt: Date | undefined;
  lastStatus: TaskLastStatus = 'PROVISIONING';
  desiredStatus: 'RUNNING' | 'STOPPED' = 'RUNNING';
  version = 1;
  startedAt: Date | undefined;
  stoppingAt: Date | undefined;
  executionStoppedAt: Date | undefined;
  stoppedAt: Date | undefined;
  stoppedReason: string | undefined;
  stopCode: TaskStopCode | undefined;
  startTimer: NodeJS.Timeout | undefined;
  readonly containers: ContainerRun[];
  readonly done: Promise<void>;
  resolveDone!: () => void;
  logFile: WriteStream | undefined;
  openStreams = 0;

  constructor(
    readonly params: LaunchParams,
    seq: number,
  ) {
    this.seq = seq;
    this.id = randomBytes(16).toString('hex');
    this.arn = taskArn(params.region, params.cluster, this.id);
    this.containers = params.definition.containers.map((def) => ({
      id: randomUUID(),
      dockerId: `${this.id}-${randomBytes(4).readUInt32BE(0)}`,
      def,
      lastStatus: 'PENDING',
      exitCode: undefined,
      reason: undefined,
      pid: undefined,
      child: undefined,
      killTimer: undefined,
      finished: false,
      createdAt: undefined,
      startedAt: undefined,
      finishedAt: undefined,
    }));
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
  }

  get cluster(): string {
    return this.params.cluster;
  }
  get family(): string {
    return this.params.definition.family;
  }
  get startedBy(): string | undefined {
    return this.params.startedBy;
  }
  get launchType(): string | undefined {
    return this.params.launchType;
  }
  get group(): string {
    return this.params.group ?? `family:${this.family}`;
  }
  /** Process ids of the containers that run now (for tests and diagnostics). */
  get pids(): number[] {
    return this.containers.filter((c) => !c.finished && c.pid !== undefined).map((c) => c.pid!);
  }

  /** The task as ECS' DescribeTasks/RunTask return it (timestamps as epoch seconds). */
  toApi(options: { includeTags: boolean }): Record<string, unknown> {
    const { region, cluster, definition, overrides } = this.params;
    const seconds = (d: Date | undefined) => (d === undefined ? undefined : d.getTime() / 1000);
    return {
      taskArn: this.arn,
      clusterArn: clusterArn(region, cluster),
      taskDefinitionArn: taskDefinitionArn(region, definition.family, definition.revision),
      group: this.group,
      lastStatus: this.lastStatus,
      desiredStatus: this.desiredStatus,
      launchType: this.params.launchType,
      capacityProviderName: this.params.capacityProviderName,
      cpu: overrides?.cpu ?? definition.cpu,
      memory: overrides?.memory ?? definition.memory,
      startedBy: this.params.startedBy,
      tags: options.includeTags ? this.params.tags : undefined,
      version: this.version,
      enableExecuteCommand: false,
      healthStatus: 'UNKNOWN',
      attachments: [],
      overrides: {
        containerOverrides: overrides?.containerOverrides ?? [],
        inferenceAcceleratorOverrides: [],
        ...(overrides?.cpu === undefined ? {} : { cpu: overrides.cpu }),
        ...(overrides?.memory === undefined ? {} : { memory: overrides.memory }),
      },
      containers: this.containers.map((c) => ({
        containerArn: containerArn(region, cluster, this.id, c.id),
        taskArn: this.arn,
        name: c.def.name,
        image: c.def.image,
        lastStatus: c.lastStatus,
        exitCode: c.exitCode,
        reason: c.reason,
        runtimeId: c.pid === undefined ? undefined : `pid-${c.pid}`,
        healthStatus: 'UNKNOWN',
        networkBindings: [],
        networkInterfaces: [],
      })),
      createdAt: seconds(this.createdAt),
      pullStartedAt: seconds(this.pullStartedAt),
      pullStoppedAt: seconds(this.pullStoppedAt),
      startedAt: seconds(this.startedAt),
      stoppingAt: seconds(this.stoppingAt),
      executionStoppedAt: seconds(this.executionStoppedAt),
      stoppedAt: seconds(this.stoppedAt),
      stoppedReason: this.stoppedReason,
      stopCode: this.stopCode,
    };
  }
}

export interface TaskRunnerOptions {
  projectRoot: string;
  /** What a container's `node` command runs. */
  nodeBinary: string;
  /** The environment every task inherits (the endpoint's own by default). */
  baseEnv: Record<string, string | undefined>;
  /** The endpoint's URL, given to tasks as AWS_ENDPOINT_URL_ECS so they launch tasks here too. */
  endpointUrl: () => string;
  stopTimeoutMs: number;
  /** When set, each task's output goes to `<dir>/<taskId>.log` instead of the endpoint's log. */
  taskLogDir: string | undefined;
  maxStoppedTasks: number;
  logger: EcsLocalLogger;
  onTaskStopped: (task: LocalTask) => void;
}

const SIGNALS: Record<string, number> = osConstants.signals as unknown as Record<string, number>;

export class TaskRunner {
  private readonly tasks = new Map<string, LocalTask>();
  private readonly stoppedOrder: string[] = [];
  private seq = 0;
  private readonly onProcessExit = () => this.killAllNow();

  constructor(private readonly options: TaskRunnerOptions) {
    if (options.taskLogDir !== undefined) mkdirSync(options.taskLogDir, { recursive: true });
    // A crash of the endpoint must not leave task processes behind in their own process groups.
    process.on('exit', this.onProcessExit);
  }

  get(taskId: string): LocalTask | undefined {
    return this.tasks.get(taskId);
  }

  /** Every task kept (running ones and the most recent stopped ones), oldest first. */
  all(): IterableIterator<LocalTask> {
    return this.tasks.values();
  }

  runningCount(): number {
    let n = 0;
    for (const t of this.tasks.values()) if (t.lastStatus !== 'STOPPED') n++;
    return n;
  }

  launch(params: LaunchParams): LocalTask {
    const task = new LocalTask(params, ++this.seq);
    this.tasks.set(task.id, task);
    this.options.logger.info({ task: task.id, family: task.family, cluster: task.cluster, startedBy: task.startedBy }, 'task provisioning');
    if (params.startDelayMs > 0) {
      task.startTimer = setTimeout(() => {
        task.startTimer = undefined;
        this.start(task);
      }, params.startDelayMs);
    } else {
      this.start(task);
    }
    return task;
  }

  /** StopTask: SIGTERM now, SIGKILL after the grace. A stopped task is returned unchanged. */
  stop(task: LocalTask, reason: string | undefined, stopCode: TaskStopCode = 'UserInitiated'): void {
    if (task.lastStatus === 'STOPPED' || task.desiredStatus === 'STOPPED') return;
    this.beginStopping(task, stopCode, reason ?? 'Task stopped by user');
    if (task.startTimer) {
      clearTimeout(task.startTimer);
      task.startTimer = undefined;
      for (const c of task.containers) this.containerFinished(task, c, undefined, undefined);
      return;
    }
    for (const c of task.containers) this.terminate(task, c);
  }

  /**
   * A Fargate Spot interruption: the termination notice (stopCode TerminationNotice while the task
   * stops) is SIGTERM to its containers, SIGKILL after their stop timeout; STOPPED, its stop code
   * is SpotInterruption. False when the task does not run on FARGATE_SPOT or is already stopping.
   */
  interruptSpot(task: LocalTask): boolean {
    if (task.params.capacityProviderName !== 'FARGATE_SPOT' || task.desiredStatus === 'STOPPED') return false;
    this.options.logger.info({ task: task.id, family: task.family }, 'Spot interruption: termination notice');
    this.stop(task, SPOT_INTERRUPTED_REASON, 'TerminationNotice');
    return true;
  }

  /** Stops every task (SIGTERM, then SIGKILL after the grace) and waits until all have exited. */
  async stopAll(reason: string): Promise<void> {
    const pending: Promise<void>[] = [];
    for (const task of this.tasks.values()) {
      if (task.lastStatus === 'STOPPED') continue;
      this.stop(task, reason);
      pending.push(task.done);
    }
    await Promise.all(pending);
  }

  /** SIGKILL to every task's process group, synchronously (second Ctrl-C, process exit). */
  killAllNow(): void {
    for (const task of this.tasks.values()) {
      if (task.startTimer) clearTimeout(task.startTimer);
      for (const c of task.containers) if (!c.finished) this.signalGroup(c, 'SIGKILL');
    }
  }

  dispose(): void {
    process.off('exit', this.onProcessExit);
    for (const task of this.tasks.values()) task.logFile?.end();
  }

  private start(task: LocalTask): void {
    if (task.desiredStatus === 'STOPPED') return;
    const failure = task.params.startFailure;
    if (failure !== undefined) {
      // As on Fargate: no container ever ran, so none has an exit code; each carries the reason.
      this.options.logger.warn({ task: task.id, family: task.family, reason: failure }, 'task failed to start (injected)');
      this.beginStopping(task, 'TaskFailedToStart', failure);
      for (const c of task.containers) {
        c.reason = failure.split(':')[0];
        this.containerFinished(task, c, undefined, undefined);
      }
      return;
    }
    task.pullStoppedAt = new Date();
    if (this.options.taskLogDir !== undefined) {
      task.logFile = createWriteStream(join(this.options.taskLogDir, `${task.id}.log`), { flags: 'a' });
      task.logFile.on('error', (err) => this.options.logger.error({ task: task.id, err }, 'task log file error'));
    }
    for (const c of task.containers) this.spawnContainer(task, c);
  }

  private containerEnv(task: LocalTask, c: ContainerRun): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.options.baseEnv)) if (v !== undefined) env[k] = v;
    const region = task.params.region;
    // What ECS/Fargate gives every task, plus what a task needs to reach this endpoint.
    env['AWS_REGION'] = region;
    env['AWS_DEFAULT_REGION'] = region;
    env['AWS_ENDPOINT_URL_ECS'] = this.options.endpointUrl();
    env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
    if (env['AWS_ACCESS_KEY_ID'] === undefined && env['AWS_PROFILE'] === undefined) {
      env['AWS_ACCESS_KEY_ID'] = 'test';
      env['AWS_SECRET_ACCESS_KEY'] = 'test';
    }
    for (const kv of c.def.environment) env[kv.name] = kv.value;
    const override = task.params.overrides?.containerOverrides?.find((o) => o.name === c.def.name);
    for (const kv of override?.environment ?? []) env[kv.name] = kv.value;
    // Fargate (platform 1.4+) gives every container its task metadata endpoint v4, served by this endpoint under /v4/.
    env['ECS_CONTAINER_METADATA_URI_V4'] = `${this.options.endpointUrl()}/v4/${c.dockerId}`;
    // No ECS_TASK_ARN: ECS never sets one; a task learns its ARN from `${ECS_CONTAINER_METADATA_URI_V4}/task`.
    env['ECS_CLUSTER'] = task.cluster;
    env['ECS_CONTAINER_NAME'] = c.def.name;
    return env;
  }

  private containerArgv(task: LocalTask, c: ContainerRun): string[] {
    const override = task.params.overrides?.containerOverrides?.find((o) => o.name === c.def.name);
    if (override?.command !== undefined) return [...(c.def.entryPoint ?? []), ...override.command];
    return [...c.def.argv];
  }

  private spawnContainer(task: LocalTask, c: ContainerRun): void {
    if (c.finished || task.desiredStatus === 'STOPPED') {
      this.containerFinished(task, c, undefined, undefined);
      return;
    }
    const argv = this.containerArgv(task, c);
    const [command, ...args] = argv;
    if (command === undefined || command === '') {
      c.reason = 'CannotStartContainerError: the container definition has no entryPoint/command to run locally';
      this.containerFailedToStart(task, c);
      return;
    }
    // `node` runs the configured Node binary (the endpoint's own by default), whatever PATH says.
    const binary = command === 'node' ? this.options.nodeBinary : command;
    let child: ChildProcess;
    c.createdAt = new Date();
    try {
      child = spawn(binary, args, {
        cwd: this.options.projectRoot,
        env: this.containerEnv(task, c),
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
        shell: false,
      });
    } catch (err) {
      c.reason = `CannotStartContainerError: ${err instanceof Error ? err.message : String(err)}`;
      this.containerFailedToStart(task, c);
      return;
    }
    c.child = child;
    let spawned = false;
    child.once('spawn', () => {
      spawned = true;
      c.startedAt = new Date();
      c.pid = child.pid;
      c.lastStatus = 'RUNNING';
      task.version++;
      this.options.logger.info({ task: task.id, container: c.def.name, pid: child.pid, command: argv.join(' ') }, 'container running');
      this.maybeRunning(task);
      // StopTask may have arrived while the process was being created.
      if (task.desiredStatus === 'STOPPED') this.terminate(task, c);
    });
    child.on('error', (err) => {
      if (!spawned && !c.finished) {
        c.reason = `CannotStartContainerError: ${err.message}`;
        this.containerFailedToStart(task, c);
      } else {
        this.options.logger.warn({ task: task.id, container: c.def.name, err: err.message }, 'container process error');
      }
    });
    child.once('exit', (code, signal) => {
      if (!spawned) return; // a spawn failure is reported through 'error'
      const exitCode = code ?? (signal ? 128 + (SIGNALS[signal] ?? 0) : undefined);
      this.containerFinished(task, c, exitCode, signal ?? undefined);
    });
    if (child.stdout) this.pipeOutput(task, c, child.stdout, 'stdout');
    if (child.stderr) this.pipeOutput(task, c, child.stderr, 'stderr');
  }

  private pipeOutput(task: LocalTask, c: ContainerRun, stream: Readable, name: 'stdout' | 'stderr'): void {
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    task.openStreams++;
    lines.once('close', () => {
      task.openStreams--;
      if (task.openStreams === 0 && task.lastStatus === 'STOPPED') this.closeLogFile(task);
    });
    lines.on('line', (line) => {
      if (task.logFile) {
        task.logFile.write(`${new Date().toISOString()} ${c.def.name} ${name} ${line}\n`);
      } else if (this.logStructured(task, c, line)) {
        return;
      } else if (name === 'stdout') {
        this.options.logger.info({ task: task.id, container: c.def.name }, line);
      } else {
        this.options.logger.warn({ task: task.id, container: c.def.name, stream: name }, line);
      }
    });
  }

  /**
   * A task's pino line is logged as the object it is, at its own level, with the task id added,
   * rather than as an escaped string inside this endpoint's `msg`. False for any other line.
   */
  private logStructured(task: LocalTask, c: ContainerRun, line: string): boolean {
    if (!line.startsWith('{')) return false;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return false;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return false;
    // This endpoint's logger writes its own level, time, pid, hostname and name.
    const { level, msg, time: _time, pid: _pid, hostname: _hostname, name: taskLogger, ...fields } = parsed as Record<string, unknown>;
    const log = { ...fields, ...(typeof taskLogger === 'string' ? { taskLogger } : {}), task: task.id, container: c.def.name };
    const text = typeof msg === 'string' ? msg : undefined;
    const severity = typeof level === 'number' ? level : 30;
    if (severity >= 50) this.options.logger.error(log, text);
    else if (severity >= 40) this.options.logger.warn(log, text);
    else if (severity >= 30) this.options.logger.info(log, text);
    else this.options.logger.debug(log, text);
    return true;
  }

  private maybeRunning(task: LocalTask): void {
    if (task.lastStatus !== 'PROVISIONING') return;
    if (task.containers.every((c) => c.lastStatus === 'RUNNING' || (c.finished && !c.def.essential))) {
      task.lastStatus = 'RUNNING';
      task.startedAt = new Date();
      task.version++;
    }
  }

  private containerFailedToStart(task: LocalTask, c: ContainerRun): void {
    this.options.logger.error({ task: task.id, container: c.def.name, reason: c.reason }, 'container failed to start');
    if (c.def.essential && task.desiredStatus === 'RUNNING') {
      this.beginStopping(task, 'TaskFailedToStart', c.reason ?? 'CannotStartContainerError');
      for (const other of task.containers) if (other !== c) this.terminate(task, other);
    }
    this.containerFinished(task, c, undefined, undefined);
  }

  private beginStopping(task: LocalTask, stopCode: TaskStopCode, reason: string): void {
    task.desiredStatus = 'STOPPED';
    task.stopCode = stopCode;
    task.stoppedReason = reason;
    task.stoppingAt = new Date();
    if (task.lastStatus !== 'STOPPED') task.lastStatus = 'STOPPING';
    task.version++;
  }

  /** SIGTERM to the container's main process; SIGKILL to its process group after the grace. */
  private terminate(task: LocalTask, c: ContainerRun): void {
    if (c.finished || c.killTimer) return;
    if (!c.child || c.pid === undefined) {
      // Not spawned yet: the 'spawn' handler calls terminate again once there is a process.
      if (!c.child) this.containerFinished(task, c, undefined, undefined);
      return;
    }
    this.signal(c, 'SIGTERM');
    const grace = c.def.stopTimeoutMs ?? this.options.stopTimeoutMs;
    c.killTimer = setTimeout(() => {
      if (c.finished) return;
      this.options.logger.warn({ task: task.id, container: c.def.name, graceMs: grace }, 'container ignored SIGTERM; SIGKILL');
      this.signalGroup(c, 'SIGKILL');
    }, grace);
  }

  private signal(c: ContainerRun, signal: NodeJS.Signals): void {
    try {
      c.child?.kill(signal);
    } catch {
      // Already gone.
    }
  }

  private signalGroup(c: ContainerRun, signal: NodeJS.Signals): void {
    if (c.pid === undefined) return;
    try {
      process.kill(-c.pid, signal);
    } catch {
      this.signal(c, signal);
    }
  }

  private containerFinished(task: LocalTask, c: ContainerRun, exitCode: number | undefined, signal: NodeJS.Signals | undefined): void {
    if (c.finished) return;
    c.finished = true;
    c.lastStatus = 'STOPPED';
    c.exitCode = exitCode;
    if (c.startedAt !== undefined) c.finishedAt = new Date();
    if (c.killTimer) clearTimeout(c.killTimer);
    c.killTimer = undefined;
    task.version++;
    if (exitCode !== undefined) {
      this.options.logger.info({ task: task.id, container: c.def.name, exitCode, ...(signal ? { signal } : {}) }, 'container exited');
    }
    if (c.def.essential && task.desiredStatus === 'RUNNING') {
      this.beginStopping(task, 'EssentialContainerExited', 'Essential container in task exited');
      for (const other of task.containers) if (other !== c) this.terminate(task, other);
    } else {
      this.maybeRunning(task);
    }
    if (task.containers.every((x) => x.finished)) this.taskStopped(task);
  }

  private closeLogFile(task: LocalTask): void {
    task.logFile?.end();
    task.logFile = undefined;
  }

  private taskStopped(task: LocalTask): void {
    const now = new Date();
    task.lastStatus = 'STOPPED';
    task.desiredStatus = 'STOPPED';
    if (task.stopCode === 'TerminationNotice') task.stopCode = 'SpotInterruption';
    task.executionStoppedAt = now;
    task.stoppedAt = now;
    task.version++;
    if (task.openStreams === 0) this.closeLogFile(task);
    this.options.logger.info(
      {
        task: task.id,
        family: task.family,
        stopCode: task.stopCode,
        reason: task.stoppedReason,
        exitCodes: Object.fromEntries(task.containers.map((c) => [c.def.name, c.exitCode ?? null])),
      },
      'task stopped',
    );
    this.stoppedOrder.push(task.id);
    while (this.stoppedOrder.length > this.options.maxStoppedTasks) {
      const evicted = this.stoppedOrder.shift();
      if (evicted !== undefined) this.tasks.delete(evicted);
    }
    this.options.onTaskStopped(task);
    task.resolveDone();
  }
}
