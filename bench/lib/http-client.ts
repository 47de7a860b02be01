import { Agent, request } from 'node:http';

export interface JsonResponse {
  readonly status: number;
  readonly body: unknown;
}

/**
 * A small keep-alive JSON client over node:http: lighter on the driver's CPU than fetch, which
 * matters when the driver shares two cores with the system under test.
 */
export class HttpClient {
  private readonly agent: Agent;
  private readonly host: string;
  private readonly port: number;

  /** `headers`: sent with every request (the bench's bearer token). */
  constructor(
    baseUrl: string,
    maxSockets: number,
    private readonly headers: Record<string, string> = {},
  ) {
    const url = new URL(baseUrl);
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname))
      throw new Error(`the bench only talks to loopback, not ${url.hostname}`);
    this.host = url.hostname;
    this.port = Number(url.port);
    this.agent = new Agent({ keepAlive: true, maxSockets });
  }

  send(method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = 30_000): Promise<JsonResponse> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.host,
          port: this.port,
          method,
          path,
          agent: this.agent,
          timeout: timeoutMs,
          headers: {
            ...this.headers,
            ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              // keep the text: an error page is still worth reporting
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out after ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
