import { ConfigError, loadConfig } from '../../shared/infrastructure/config/config.js';
import { resolveEndpoints } from '../provisioning/index.js';

/**
 * `npm run dead-letters`: the production CLI (src/entrypoints/dead-letters.ts) against the local
 * dev database when DATABASE_URL is not set. The production CLI knows only DATABASE_URL; finding
 * the local instances is a laptop's concern, so it happens here and never in the image.
 */
const argv = process.argv.slice(2);
const wantsHelp = argv.includes('--help') || argv.includes('-h');

async function localDatabaseUrl(): Promise<string | undefined> {
  if (wantsHelp || process.env['DATABASE_URL']) return undefined;
  try {
    return (await resolveEndpoints(loadConfig(), { allowEmbedded: false })).databaseUrl;
  } catch (error) {
    // The production CLI reports a bad setting itself (exit 78), with the same words.
    if (error instanceof ConfigError) return undefined;
    process.stderr.write(
      `${JSON.stringify({ error: { code: 'NO_DATABASE', message: error instanceof Error ? error.message : String(error) } })}\n`,
    );
    process.exit(1);
  }
}

const url = await localDatabaseUrl();
if (url !== undefined) process.env['DATABASE_URL'] = url;
await import('../../entrypoints/dead-letters.js');
