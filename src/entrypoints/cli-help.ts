import { ConfigError } from '../shared/infrastructure/config/config.js';
import { exitForSettings, helpAsked } from '../shared/infrastructure/config/command-line.js';

export { EXIT_CONFIG, exitForSettings, helpAsked } from '../shared/infrastructure/config/command-line.js';

/**
 * `--help` (or `-h`) on any command line of the project: the usage in plain text on stdout, exit 0,
 * before any configuration is read or any server is looked for.
 */
export function exitWithHelpIfAsked(argv: readonly string[], usage: string): void {
  if (!helpAsked(argv)) return;
  process.stdout.write(`${usage.trim()}\n`);
  process.exit(0);
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
