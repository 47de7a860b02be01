/**
 * `--help` (or `-h`) on any command line of the project: the usage in plain text on stdout, exit 0,
 * before any configuration is read or any server is looked for.
 */
export function exitWithHelpIfAsked(argv: readonly string[], usage: string): void {
  if (!argv.includes('--help') && !argv.includes('-h')) return;
  process.stdout.write(`${usage.trim()}\n`);
  process.exit(0);
}
