import { ConfigError } from '../shared/infrastructure/config/config.js';

/** Whether a command line asks for its usage (`--help` or `-h`). */
export function helpAsked(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/**
 * `--help` (or `-h`) on any command line of the project: the usage in plain text on stdout, exit 0,
 * before any configuration is read or any server is looked for.
 */
export function exitWithHelpIfAsked(argv: readonly string[], usage: string): void {
  if (!helpAsked(argv)) return;
  process.stdout.write(`${usage.trim()}\n`);
  process.exit(0);
}

/** EX_CONFIG (sysexits.h): a setting is missing or refused. */
export const EXIT_CONFIG = 78;

/**
 * Exits 78 with one line on stderr per refused setting, each starting with the setting's name
 * (`REDIS_URL: required with EVENT_BUS=bullmq ...`): what an operator fixes, never a stack trace.
 */
export function exitForSettings(problems: readonly string[]): never {
  process.stderr.write(problems.map((p) => `${p}\n`).join(''));
  process.exit(EXIT_CONFIG);
}

/** `make`'s value; a ConfigError it throws exits 78 with one line per setting it names. */
export function settingsOrExit<T>(make: () => T): T {
  try {
    return make();
  } catch (error) {
    if (error instanceof ConfigError) exitForSettings(error.problems);
    throw error;
  }
}

/** As settingsOrExit, for a promise. */
export async function settingsOrExitAsync<T>(make: () => Promise<T>): Promise<T> {
  try {
    return await make();
  } catch (error) {
    if (error instanceof ConfigError) exitForSettings(error.problems);
    throw error;
  }
}
