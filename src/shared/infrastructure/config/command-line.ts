/**
 * What every command line of the project does the same way, kept here so that code below the
 * entrypoints (the tracing preload every long-lived process imports first) can follow it too.
 */

/** Whether a command line asks for its usage (`--help` or `-h`). */
export function helpAsked(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
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
