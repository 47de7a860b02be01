import { ConfigError, loadConfig } from '../../shared/infrastructure/config/config.js';
import { maskUrl } from '../provisioning/mask-url.js';
import { endpointsStatus, ProvisioningError, resolveEndpoints, stopEmbedded } from '../provisioning/provisioning.js';
import { exitForSettings, exitWithHelpIfAsked } from '../../entrypoints/cli-help.js';

/**
 * Local PostgreSQL and Redis for development:
 *   services up [--reveal]      find or start them (see resolveEndpoints), print the endpoints as JSON
 *   services down               stop what was started under DATA_DIR, remove endpoints.json
 *   services status [--reveal]  print endpoints.json and whether it answers; starts nothing
 * JSON goes to stdout, progress to stderr. Passwords are masked unless --reveal is given.
 */

const USAGE = 'usage: services <up|down|status> [--reveal]';

const HELP = `${USAGE}
  up [--reveal]      find or start PostgreSQL and Redis, print their endpoints as JSON
  down               stop what was started under DATA_DIR, remove endpoints.json
  status [--reveal]  print endpoints.json and whether it answers; starts nothing
Passwords are masked unless --reveal is given.`;

function log(msg: string, data?: object): void {
  process.stderr.write(`[services] ${msg}${data ? ` ${JSON.stringify(data)}` : ''}\n`);
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

async function main(argv: string[]): Promise<number> {
  exitWithHelpIfAsked(argv, HELP);
  const [command, ...flags] = argv;
  const unknown = flags.filter((flag) => flag !== '--reveal');
  if (unknown.length > 0 || (command !== 'up' && command !== 'down' && command !== 'status')) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const reveal = flags.includes('--reveal');
  const show = (url: string): string => (reveal ? url : maskUrl(url));
  const config = loadConfig();

  switch (command) {
    case 'up': {
      const endpoints = await resolveEndpoints(config, { allowEmbedded: true, log });
      print({ databaseUrl: show(endpoints.databaseUrl), redisUrl: show(endpoints.redisUrl), sources: endpoints.sources });
      return 0;
    }
    case 'down':
      print({ stopped: await stopEmbedded(config, { log }) });
      return 0;
    case 'status':
      print(await endpointsStatus(config, { reveal }));
      return 0;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ConfigError) exitForSettings(error.problems);
    const known = error instanceof ProvisioningError;
    process.stderr.write(`${known ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
