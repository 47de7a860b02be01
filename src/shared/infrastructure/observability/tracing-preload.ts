import { createRequire } from 'node:module';
import { basename, extname } from 'node:path';
import { startTracing } from './tracing-sdk.js';
import { exitForSettings, helpAsked } from '../config/command-line.js';

/**
 * The first import of every long-lived entrypoint (API, worker, dev server, sweeper): starts
 * tracing when the `OTEL_*` variables ask for it. Its top-level await does not hold back the
 * entrypoint's other imports (a sibling module that does not import this one is evaluated while
 * it waits), so pg, ioredis and node:http may already be loaded when the instrumentations
 * register: `instrumentLibraries` then `require`s each once, which patches the classes every
 * importer shares (pg's Client, ioredis' Redis, http's Server). pg-pool's own connect is not
 * patched; no span is made for it anyway. Nothing is traced before the first request or delivery,
 * which needs the whole entrypoint, and so this start, to have finished. The service is named
 * after the entrypoint (`saga-api-server`, `saga-worker`...) unless `OTEL_SERVICE_NAME` names it.
 */
const entry = process.argv[1] ? basename(process.argv[1], extname(process.argv[1])) : 'process';
// `--help` only prints the entrypoint's usage: nothing is started for it.
if (!helpAsked(process.argv.slice(2))) await startOrExit();

async function startOrExit(): Promise<void> {
  try {
    await startTracing({ serviceName: `saga-${entry}`, instrument: createRequire(import.meta.url) });
  } catch (error) {
    // A variable the SDK cannot use is a configuration error, like those of loadConfig: EX_CONFIG.
    exitForSettings([(error as Error).message]);
  }
}
