import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';

const gunzipAsync = promisify(gunzip);

/** The part of an OTLP/HTTP JSON ExportTraceServiceRequest the bench reads: the spans' trace ids. */
interface ExportRequest {
  resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: Array<{ traceId?: string }> }> }>;
}

/**
 * A minimal OTLP/HTTP trace receiver in the bench process, the collector of the "tracing on" runs:
 * it accepts `POST /v1/traces` (JSON, gzip when `content-encoding` says so), answers 200 `{}` at
 * once and counts the spans it received. It keeps no span: its own CPU is the bench's, not the
 * measured system's, as a collector's would be.
 */
export interface OtlpReceiver {
  /** What the system processes get as OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly endpoint: string;
  /** Spans received so far. */
  spans(): number;
  /** Export requests received so far (each a batch of the exporter's). */
  requests(): number;
  /** Bytes of JSON received so far (after gunzip): what the exporters serialized. */
  bytes(): number;
  /** Requests it could not decode or did not expect (e.g. protobuf): an exporter the bench does not measure. */
  rejected(): readonly string[];
  close(): Promise<void>;
}

async function bodyOf(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  const encoding = String(request.headers['content-encoding'] ?? '').toLowerCase();
  if (encoding === '' || encoding === 'identity') return raw;
  if (encoding === 'gzip') return gunzipAsync(raw);
  throw new Error(`content-encoding ${encoding}`);
}

function countSpans(body: ExportRequest): number {
  let n = 0;
  for (const rs of body.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) n += ss.spans?.length ?? 0;
  return n;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  let spans = 0;
  let requests = 0;
  let bytes = 0;
  const rejected: string[] = [];
  const server: Server = createServer((request, response) => {
    void (async () => {
      if (request.method !== 'POST' || request.url?.split('?')[0] !== '/v1/traces') {
        rejected.push(`${request.method ?? '?'} ${request.url ?? '?'}`);
        request.resume();
        response.writeHead(404).end();
        return;
      }
      try {
        const type = String(request.headers['content-type'] ?? '');
        if (!type.startsWith('application/json')) throw new Error(`content-type ${type || '(none)'}`);
        const body = await bodyOf(request);
        spans += countSpans(JSON.parse(body.toString('utf8')) as ExportRequest);
        bytes += body.length;
        requests++;
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } catch (error) {
        rejected.push(error instanceof Error ? error.message : String(error));
        response.writeHead(400, { 'content-type': 'application/json' }).end('{}');
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans: () => spans,
    requests: () => requests,
    bytes: () => bytes,
    rejected: () => rejected,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
