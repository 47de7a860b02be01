import { readFile } from 'node:fs/promises';
import type { BenchDb } from './databases.js';

/** Clock ticks per second of /proc/<pid>/stat on Linux (USER_HZ, 100 on every mainstream build). */
const TICKS_PER_SEC = 100;

/** utime + stime of a process in ms, or undefined when it is gone. */
export async function processCpuMs(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SEC;
  } catch {
    return undefined;
  }
}

/**
 * CPU time used by one process and by the PostgreSQL backends serving its databases (one, or one
 * per module moved out): on a shared two-core machine, CPU per saga moves far less with other load
 * than sagas per second do.
 */
export class CpuMeter {
  private systemStart = 0;
  private readonly backendsStart = new Map<number, number>();

  constructor(
    private readonly systemPid: number,
    private readonly db: BenchDb,
  ) {}

  private async backends(): Promise<Map<number, number>> {
    const { rows } = await this.db.pools[0]!.pool.query<{ pid: number }>(
      `select pid from pg_stat_activity where datname = any($1::text[]) and application_name <> 'bench:driver'`,
      [this.db.pools.map((p) => p.name)],
    );
    const out = new Map<number, number>();
    for (const { pid } of rows) {
      const ms = await processCpuMs(pid);
      if (ms !== undefined) out.set(pid, ms);
    }
    return out;
  }

  async start(): Promise<void> {
    this.systemStart = (await processCpuMs(this.systemPid)) ?? Number.NaN;
    this.backendsStart.clear();
    for (const [pid, ms] of await this.backends()) this.backendsStart.set(pid, ms);
  }

  /** CPU ms spent since `start()` by the system process and by its database backends. */
  async stop(): Promise<{ systemMs: number; postgresMs: number }> {
    const systemMs = ((await processCpuMs(this.systemPid)) ?? Number.NaN) - this.systemStart;
    let postgresMs = 0;
    for (const [pid, ms] of await this.backends()) postgresMs += ms - (this.backendsStart.get(pid) ?? 0);
    return { systemMs, postgresMs };
  }
}
