import { parseArgs } from 'node:util';
import { loadConfig } from '../../shared/infrastructure/config/config.js';
import { scopeDeclarationsOf } from '../../shared/infrastructure/http/declared-scopes.js';
import { ALL_MODULES } from '../../entrypoints/composition/all-modules.js';
import { localKeys, signLocalToken } from '../auth/local-issuer.js';
import { exitWithHelpIfAsked, settingsOrExit } from '../../entrypoints/cli-help.js';

/** Every scope the monolith's API declares; those a customer's token holds by default. */
const declared = Object.entries(scopeDeclarationsOf(ALL_MODULES));
const EVERY_SCOPE = declared.map(([scope]) => scope).join(' ');
const CUSTOMER_SCOPES = declared
  .filter(([, d]) => d.customerToken)
  .map(([scope]) => scope)
  .join(' ');

const HELP = `usage: npm run -s auth:token -- [--customer <id>] [--scope "<scopes>"] [--sub <subject>] [--ttl <seconds>]

Prints an access token signed by the dev server's local issuer (key pair under DATA_DIR/auth/),
for trying AUTH_MODE=jwt with \`npm run dev\`:
  --customer <id>   the token acts for this customer only (claim customer_id)
  --scope "<s>"     space-separated; default with --customer "${CUSTOMER_SCOPES}", else every
                    scope (${EVERY_SCOPE})
  --sub <subject>   default: customer-<id> with --customer, else staff
  --ttl <seconds>   default 3600
Example:
  curl -H "Authorization: Bearer $(npm run -s auth:token -- --customer $CUSTOMER)" localhost:3000/orders
`;

exitWithHelpIfAsked(process.argv.slice(2), HELP);
function parse(): ReturnType<typeof parseWith> {
  try {
    return parseWith(process.argv.slice(2));
  } catch (error) {
    // An unknown or incomplete option: one line and the usage, as a usage error (2), no stack trace.
    process.stderr.write(`auth:token: ${(error as Error).message}\n${HELP}`);
    process.exit(2);
  }
}
function parseWith(args: string[]) {
  return parseArgs({
    args,
    options: {
      customer: { type: 'string' },
      scope: { type: 'string' },
      sub: { type: 'string' },
      ttl: { type: 'string', default: '3600' },
    },
  });
}
const { values } = parse();
const ttlSeconds = Number(values.ttl);
const customer = values.customer?.toLowerCase();
if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) {
  process.stderr.write('--ttl: a whole number of seconds\n');
  process.exit(2);
}
if (customer !== undefined && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(customer)) {
  process.stderr.write('--customer: a customer id (UUID)\n');
  process.exit(2);
}
const scopes = (values.scope ?? (customer ? CUSTOMER_SCOPES : EVERY_SCOPE)).split(' ').filter((s) => s.length > 0);
const keys = await localKeys(settingsOrExit(() => loadConfig()).DATA_DIR);
const token = await signLocalToken(keys, {
  subject: values.sub ?? (customer ? `customer-${customer}` : 'staff'),
  scopes,
  ...(customer ? { customerId: customer } : {}),
  ttlSeconds,
});
process.stdout.write(`${token}\n`);
