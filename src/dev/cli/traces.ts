/**
 * `npm run traces`: an OTLP/HTTP trace receiver on this machine, no Docker needed. Every process
 * started with OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 sends it its spans; it prints each
 * trace as a tree once no span of it arrived for TRACES_SETTLE_MS. Ctrl-C prints what is still
 * settling and exits.
 */
import { z } from 'zod';
import { exitForSettings, exitWithHelpIfAsked } from '../../entrypoints/cli-help.js';
import { startTraceReceiver, type TraceReceiver } from '../traces/receiver.js';

const USAGE = `usage: traces (npm run traces)
  receives the spans of the processes started with OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318
  (OTLP/HTTP JSON, POST /v1/traces) and prints each trace as a tree once it has settled.
  TRACES_HOST (127.0.0.1), TRACES_PORT (4318, OTLP/HTTP's), TRACES_SETTLE_MS (1500: how long a trace
  gets no new span before it is printed; a span arriving later prints the whole trace again).
  Example, in a second shell:
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 OTEL_BSP_SCHEDULE_DELAY=500 npm run dev`;

const settingsSchema = z.object({
  TRACES_HOST: z.string().min(1).default('127.0.0.1'),
  TRACES_PORT: z.coerce.number().int().min(0).max(65535).default(4318),
  TRACES_SETTLE_MS: z.coerce.number().int().min(10).max(600_000).default(1_500),
});

exitWithHelpIfAsked(process.argv.slice(2), USAGE);
const cleaned = Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== undefined && v !== ''));
const parsed = settingsSchema.safeParse(cleaned);
if (!parsed.success) exitForSettings(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
const settings = parsed.data;

/** The receiver, or exit 78 naming TRACES_PORT when its address cannot be listened on. */
async function listen(): Promise<TraceReceiver> {
  try {
    return await startTraceReceiver({
      host: settings.TRACES_HOST,
      port: settings.TRACES_PORT,
      settleMs: settings.TRACES_SETTLE_MS,
      onTrace: (tree) => process.stdout.write(`${tree}\n\n`),
      onRejected: (problem) => process.stderr.write(`traces: refused a request: ${problem}\n`),
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EADDRINUSE' && code !== 'EACCES' && code !== 'EADDRNOTAVAIL') throw error;
    exitForSettings([
      `TRACES_PORT: ${settings.TRACES_HOST}:${settings.TRACES_PORT} cannot be listened on (${code}): is a collector (Jaeger, otel-collector) already there? Choose another TRACES_PORT`,
    ]);
  }
}

const running = await listen();
process.stderr.write(
  `traces: receiving OTLP/HTTP on ${running.endpoint}/v1/traces; start the system with OTEL_EXPORTER_OTLP_ENDPOINT=${running.endpoint}\n`,
);
let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void running.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
