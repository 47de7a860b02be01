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
  close(): Promise<void>;
}

export interface AlbOptions {
  /** The target, `http://127.0.0.1:<port>`. */
  readonly target: string;
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
  const target = new URL(options.target);
  const agent = new Agent({ keepAlive: true, maxSockets: 128, localAddress: options.localAddress ?? '127.0.0.1' });
  const protocol = options.tls ? 'https' : 'http';
  let forwarded = 0;
  let port = 0;
  const handle = (request: IncomingMessage, response: ServerResponse) => {
    forwarded += 1;
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
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  return {
    url: `${protocol}://127.0.0.1:${port}`,
    forwarded: () => forwarded,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      agent.destroy();
    },
  };
}
