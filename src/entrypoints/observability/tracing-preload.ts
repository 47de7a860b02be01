import { createRequire } from 'node:module';
import { basename, extname } from 'node:path';
import { startTracing } from '../composition/tracing-sdk.js';

/**
 * The first import of every long-lived entrypoint (API, worker, dev server, sweeper): starts
 * tracing, when the `OTEL_*` variables ask for it, before the entrypoint's own imports load the
 * libraries the instrumentations patch. The service is named after the entrypoint
 * (`saga-api-server`, `saga-worker`...) unless `OTEL_SERVICE_NAME` names it.
 */
const entry = process.argv[1] ? basename(process.argv[1], extname(process.argv[1])) : 'process';
try {
  await startTracing({ serviceName: `saga-${entry}`, instrument: createRequire(import.meta.url) });
} catch (error) {
  // A variable the SDK cannot use is a configuration error, like those of loadConfig: EX_CONFIG.
  process.stderr.write(`${JSON.stringify({ level: 60, time: new Date().toISOString(), msg: `tracing: ${(error as Error).message}` })}\n`);
  process.exit(78);
}
