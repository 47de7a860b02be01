import type { Socket } from 'node:net';
import { normalizeIP } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { problem, PROBLEM_CONTENT_TYPE } from './problem.js';
import { isProbe } from './security/api-security.js';
import type { TrustedHop } from './security/trusted-hop.js';
import { rawProblemResponse } from './client-errors.js';

const DETAIL = 'Too many connections from this address; close some and retry';

/** Open things per client address; an address leaves the map with its last one. */
class Counts {
  private readonly byAddress = new Map<string, number>();

  /** Takes one for `address` unless it holds `max` already; the release function gives it back once. */
  take(address: string, max: number): (() => void) | null {
    const held = this.byAddress.get(address) ?? 0;
    if (held >= max) return null;
    this.byAddress.set(address, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.byAddress.get(address) ?? 1) - 1;
      if (left <= 0) this.byAddress.delete(address);
      else this.byAddress.set(address, left);
    };
  }
}

/** How long a refused connection may take to read its answer before it is closed whatever it does. */
const REFUSED_LINGER_MS = 1_000;

/**
 * A direct client over its share of connections: answered and half-closed at once (its answer is
 * not lost to a reset), then closed after REFUSED_LINGER_MS; no request it sends meanwhile runs.
 */
function boundConnections(app: FastifyInstance, max: number, trusted: TrustedHop | false): void {
  const connections = new Counts();
  const refused = new WeakSet<Socket>();
  app.server.on('connection', (socket: Socket) => {
    const peer = socket.remoteAddress;
    // A proxy TRUST_PROXY believes (the load balancer) carries every client: its clients are counted per request.
    if (peer === undefined || (trusted && trusted(peer, 0))) return;
    const release = connections.take(normalizeIP(peer), max);
    if (release) {
      socket.once('close', release);
      return;
    }
    refused.add(socket);
    socket.on('error', () => undefined);
    socket.end(rawProblemResponse(429, 'TOO_MANY_CONNECTIONS', DETAIL));
    const timer = setTimeout(() => socket.destroy(), REFUSED_LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  });
  app.addHook('onRequest', (request, reply, done) => {
    if (!refused.has(request.socket)) return done();
    // Hijacked: the lifecycle stops here, no handler runs, nothing is written to the ended socket.
    void reply.hijack();
    request.socket.destroy();
    done();
  });
}

/** Through a trusted proxy: the forwarded client's requests in flight, answered 429 over the bound. */
function boundForwardedRequests(app: FastifyInstance, max: number, trusted: TrustedHop): void {
  const inFlight = new Counts();
  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done) => {
    const peer = request.socket.remoteAddress;
    if (isProbe(request) || peer === undefined || !trusted(peer, 0)) return done();
    const client = normalizeIP(request.ip);
    // The proxy's own request (a load balancer health check sends no X-Forwarded-For).
    if (client === normalizeIP(peer)) return done();
    const release = inFlight.take(client, max);
    if (release) {
      reply.raw.once('close', release);
      return done();
    }
    request.log.warn({ client }, 'too many requests in flight from one client');
    void reply
      .status(429)
      .type(PROBLEM_CONTENT_TYPE)
      .send({ ...problem(429, 'TOO_MANY_CONNECTIONS', DETAIL), instance: request.url });
  });
}

/**
 * One client cannot hold every connection (HTTP_MAX_CONNECTIONS_PER_ADDRESS): a peer may keep at
 * most `max` connections open, and a connection over that is answered 429 TOO_MANY_CONNECTIONS
 * and closed at once, so twenty half-sent requests from one address cost only that address. A
 * peer TRUST_PROXY names as a proxy (the load balancer) is not counted, since it carries every
 * client; the clients it forwards are, by their forwarded address, per request in flight.
 */
export function limitConnectionsPerAddress(app: FastifyInstance, max: number, trusted: TrustedHop | false): void {
  if (max === 0) return;
  boundConnections(app, max, trusted);
  if (trusted) boundForwardedRequests(app, max, trusted);
}
