import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { problem, PROBLEM_CONTENT_TYPE } from './problem.js';

/**
 * The answers Node's HTTP server writes by itself, before any route runs (a request that is not
 * HTTP, that is too slow, whose headers are too large, an Expect it cannot meet), as problem+json
 * with a stable code like every other error, instead of Node's empty bodies and Fastify's JSON.
 */

/** What Node's parser or timers reported, as the problem a client reads. */
function clientProblem(code: string | undefined): { status: number; code: string; detail: string } {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return {
      status: 408,
      code: 'REQUEST_TIMEOUT',
      detail: 'The request did not arrive in time (HTTP_HEADERS_TIMEOUT_MS, HTTP_REQUEST_TIMEOUT_MS)',
    };
  }
  if (code === 'HPE_HEADER_OVERFLOW') {
    return { status: 431, code: 'HEADERS_TOO_LARGE', detail: 'The request line and headers are larger than this server accepts' };
  }
  return { status: 400, code: 'MALFORMED_REQUEST', detail: 'The request is not valid HTTP/1.1' };
}

/** A whole HTTP/1.1 response carrying a problem, for the socket itself; the connection closes after it. */
export function rawProblemResponse(status: number, code: string, detail: string): string {
  const body = JSON.stringify(problem(status, code, detail));
  return [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    `Content-Type: ${PROBLEM_CONTENT_TYPE}`,
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-store',
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

/** Fastify's clientErrorHandler: Node's own 400, 408 and 431, as problem+json. */
export function answerClientError(this: FastifyInstance, error: Error & { code?: string }, socket: Duplex): void {
  // A reset connection has nobody left to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const answer = clientProblem(error.code);
  this.log.debug({ err: error.message, errorCode: error.code, problem: answer.code }, 'client error');
  if (socket.writable) socket.write(rawProblemResponse(answer.status, answer.code, answer.detail));
  socket.destroy(error);
}

/** An `Expect` other than 100-continue: Node would answer an empty 417. */
export function answerExpectation(_request: IncomingMessage, response: ServerResponse): void {
  const body = JSON.stringify(problem(417, 'EXPECTATION_FAILED', 'Only "Expect: 100-continue" is supported'));
  response
    .writeHead(417, {
      'content-type': PROBLEM_CONTENT_TYPE,
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      connection: 'close',
    })
    .end(body);
}
