import type { SettleResult } from './invariants.js';
import type { SuitePostgres, SuiteRedis } from './services.js';
import type { SystemProcess } from './system-process.js';
import type { Random } from './util.js';

export interface SystemHandle {
  readonly system: SystemProcess;
  readonly databaseUrl: string;
  readonly env: Record<string, string>;
}

export interface ScenarioContext {
  readonly quick: boolean;
  readonly seed: number;
  readonly random: Random;
  readonly postgres: SuitePostgres;
  readonly redis: SuiteRedis;
  /** The project's root and the directory the suite compiled `src` into. */
  readonly projectRoot: string;
  readonly distDir: string;
  /** A temporary directory of this scenario (logs, data). */
  readonly workDir: string;
  log(message: string, data?: Record<string, unknown>): void;
  /**
   * A fresh, empty database and the dev server configured against it and the suite's Redis
   * (not started). `env` overrides the suite's defaults.
   */
  createSystem(env?: Record<string, string>): Promise<SystemHandle>;
  /** Another process of the scenario (the local ECS endpoint), not started; stopped with the scenario. */
  createProcess(options: {
    name: string;
    entry: string;
    cwd?: string;
    port?: number;
    env: Record<string, string>;
    readyPath: string;
  }): Promise<SystemProcess>;
}

/** What a scenario reports, for the summary and RELIABILITY.md. */
export interface ScenarioResult {
  /** The load it ran (orders, customers, concurrency...). */
  readonly load: string;
  /** The faults it injected. */
  readonly faults: string;
  /** Accepted orders or messages that did not reach their end (the invariants make any loss fail the scenario). */
  readonly lost: number;
  /**
   * Time to recover, for the worst fault: from the end of a fault until every order accepted before
   * it had ended (scenarios 5 and 6: from the repair and redrive, or from writing the bad messages,
   * until every one of them reached its end; scenario 7, which injects no fault: from the last order
   * of its burst accepted until every order was decided).
   */
  readonly recoveryMs: number;
  readonly invariants: SettleResult;
  readonly figures: Record<string, unknown>;
}

export interface Scenario {
  /** Short id for `--only` (e.g. `process-crash`). */
  readonly id: string;
  readonly number: number;
  readonly title: string;
  /** A reason to skip the scenario on this tree (or in this mode), printed; undefined to run it. */
  skipReason?(context: Pick<ScenarioContext, 'projectRoot' | 'quick'>): Promise<string | undefined>;
  run(context: ScenarioContext): Promise<ScenarioResult>;
}
