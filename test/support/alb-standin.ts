import { Agent, createServer as createHttpServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for an Application Load Balancer in front of the API, as harsh as the real one in
 * what the API depends on: it reads a request's headers whole before forwarding it (an ALB routes
 * on them), appends the address of the client's connection to whatever X-Forwarded-For the client
 * sent (the ALB's default, "append"), sets X-Forwarded-Proto and X-Forwarded-Port to what the
 * client connected with, terminates TLS when given a certificate, and reaches the targets over
 * keep-alive connections of its own, from its own address (the API sees the balancer as the peer
 * of every request).
 */
export interface AlbStandIn {
  /** Where clients connect: `http(s)://127.0.0.1:<port>`. */
  readonly url: string;
  /** Requests forwarded so far. */
  forwarded(): number;
  /** Each forwarded request: its target, path and the target's answer. */
  readonly log: ReadonlyArray<{ readonly target: string; readonly path: string; readonly status: number }>;
  close(): Promise<void>;
}

export interface AlbOptions {
  /** The targets, `http://127.0.0.1:<port>`, taken in turn (round robin, as an ALB's target group). */
  readonly targets: readonly string[];
  /** Listen on this port (default: any free one). */
  readonly port?: number;
  /** Terminate TLS with this certificate (PEM); the target is still reached over HTTP. */
  readonly tls?: { readonly key: string; readonly cert: string };
  /** The balancer's own address towards the targets. */
  readonly localAddress?: string;
}

function forwardedFor(request: IncomingMessage): string {
  const client = request.socket.remoteAddress ?? '';
  const sent = request.headers['x-forwarded-for'];
  const existing = Array.isArray(sent) ? sent.join(', ') : sent;
  return existing ? `${existing}, ${client}` : client;
}

export async function startAlbStandIn(options: AlbOptions): Promise<AlbStandIn> {
  const targets = options.targets.map((t) => new URL(t));
  const agent = new Agent({ keepAlive: true, maxSockets: 128, localAddress: options.localAddress ?? '127.0.0.1' });
  const protocol = options.tls ? 'https' : 'http';
  const log: Array<{ target: string; path: string; status: number }> = [];
  let forwarded = 0;
  let port = 0;
  const handle = (request: IncomingMessage, response: ServerResponse) => {
    const target = targets[forwarded++ % targets.length]!;
    const upstream = httpRequest(
      {
        agent,
        host: target.hostname,
        port: target.port,
        method: request.method,
        path: request.url,
        headers: {
          ...request.headers,
          'x-forwarded-for': forwardedFor(request),
          'x-forwarded-proto': protocol,
          'x-forwarded-port': String(port),
        },
      },
      (answer) => {
        log.push({ target: target.origin, path: request.url ?? '', status: answer.statusCode ?? 502 });
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on('error', () => {
      if (!response.headersSent) response.writeHead(502, { 'content-type': 'text/plain' });
      response.end('502 Bad Gateway');
    });
    request.pipe(upstream);
  };
  const server = options.tls ? createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, handle) : createHttpServer(handle);
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  return {
    url: `${protocol}://127.0.0.1:${port}`,
    forwarded: () => forwarded,
    log,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      agent.destroy();
    },
  };
}
