import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { decodeExportRequest, type ExportTraceServiceRequest, type Span } from './otlp-json.js';
import { renderTrace } from './trace-tree.js';

const gunzipAsync = promisify(gunzip);

/** The largest export request accepted (the exporters send batches of 512 spans by default). */
const MAX_BODY_BYTES = 32 * 1024 * 1024;
/** Traces kept after they were printed, for the spans that arrive late (another process's batch). */
const KEEP_PRINTED = 1_000;

export interface TraceReceiverOptions {
  readonly host: string;
  /** 0: any free port. */
  readonly port: number;
  /** A trace is printed once no span of it arrived for this long (each exporter sends a batch every OTEL_BSP_SCHEDULE_DELAY). */
  readonly settleMs: number;
  /** Receives each settled trace, rendered as a tree (see renderTrace); again, whole, when more of its spans arrive later. */
  readonly onTrace: (tree: string, spans: readonly Span[]) => void;
  /** A request it cannot read (protobuf, a bad body), in one line. */
  readonly onRejected?: (problem: string) => void;
}

export interface TraceReceiver {
  /** What the processes get as OTEL_EXPORTER_OTLP_ENDPOINT (the receiver serves `<endpoint>/v1/traces`). */
  readonly endpoint: string;
  /** Prints every trace still settling, then stops listening. */
  close(): Promise<void>;
}

class BodyError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function bodyOf(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new BodyError(413, `an export request over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const raw = Buffer.concat(chunks);
  const encoding = String(request.headers['content-encoding'] ?? '').toLowerCase();
  if (encoding === '' || encoding === 'identity') return raw;
  if (encoding === 'gzip') return gunzipAsync(raw);
  throw new BodyError(415, `content-encoding ${encoding} (gzip or none)`);
}

function refuse(response: ServerResponse, status: number, problem: string, onRejected?: (problem: string) => void): void {
  onRejected?.(problem);
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ code: status, message: problem }));
}

/** One request: the spans of a JSON export request, or a refusal saying why. */
async function serve(
  request: IncomingMessage,
  response: ServerResponse,
  receive: (spans: readonly Span[]) => void,
  onRejected?: (problem: string) => void,
): Promise<void> {
  if (request.method !== 'POST' || request.url?.split('?')[0] !== '/v1/traces') {
    request.resume();
    refuse(response, 404, `${request.method ?? '?'} ${request.url ?? '?'}: only POST /v1/traces is served`, onRejected);
    return;
  }
  const type = String(request.headers['content-type'] ?? '');
  if (!type.startsWith('application/json')) {
    request.resume();
    refuse(
      response,
      415,
      `content-type ${type || '(none)'}: only OTLP/HTTP JSON is read (OTEL_EXPORTER_OTLP_PROTOCOL=http/json)`,
      onRejected,
    );
    return;
  }
  try {
    const body = JSON.parse((await bodyOf(request)).toString('utf8')) as ExportTraceServiceRequest;
    receive(decodeExportRequest(body));
    response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  } catch (error) {
    refuse(response, error instanceof BodyError ? error.status : 400, error instanceof Error ? error.message : String(error), onRejected);
  }
}

/**
 * An OTLP/HTTP trace receiver for a developer's machine (`npm run traces`): it takes the JSON export
 * requests of `POST /v1/traces` (what every process of this platform sends, gzip or not), gathers
 * the spans by trace and hands each trace over as a tree once it has settled. Nothing is stored.
 */
export async function startTraceReceiver(options: TraceReceiverOptions): Promise<TraceReceiver> {
  const pending = new Map<string, { spans: Span[]; timer?: NodeJS.Timeout }>();
  const printed = new Map<string, Span[]>();

  const settle = (traceId: string): void => {
    const entry = pending.get(traceId);
    if (!entry) return;
    clearTimeout(entry.timer);
    pending.delete(traceId);
    printed.set(traceId, entry.spans);
    if (printed.size > KEEP_PRINTED) printed.delete(printed.keys().next().value!);
    options.onTrace(renderTrace(entry.spans), entry.spans);
  };

  const receive = (spans: readonly Span[]): void => {
    for (const span of spans) {
      let entry = pending.get(span.traceId);
      if (!entry) {
        // A late span of a trace already printed: the whole trace is printed again once it settles.
        const before = printed.get(span.traceId) ?? [];
        printed.delete(span.traceId);
        entry = { spans: [...before] };
        pending.set(span.traceId, entry);
      }
      if (!entry.spans.some((s) => s.spanId === span.spanId)) entry.spans.push(span);
      clearTimeout(entry.timer);
      const traceId = span.traceId;
      entry.timer = setTimeout(() => settle(traceId), options.settleMs);
    }
  };

  const server: Server = createServer((request, response) => void serve(request, response, receive, options.onRejected));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    endpoint: `http://${host}:${port}`,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      for (const traceId of [...pending.keys()]) settle(traceId);
    },
  };
}
