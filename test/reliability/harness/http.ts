export interface HttpResponse {
  readonly status: number;
  readonly contentType: string;
  readonly headers: Headers;
  readonly text: string;
  readonly json: unknown;
  readonly ms: number;
}

export type HttpAttempt =
  | { readonly ok: true; readonly response: HttpResponse }
  | { readonly ok: false; readonly error: string; readonly timedOut: boolean; readonly ms: number };

export interface RequestOptions {
  readonly body?: unknown;
  /** Sent as is (not JSON-encoded): for malformed and oversized bodies. */
  readonly rawBody?: string;
  readonly headers?: Record<string, string>;
  readonly timeoutMs?: number;
}

/** One HTTP request over a real socket; a network failure or a timeout is an outcome, not an exception. */
export async function request(baseUrl: string, method: string, path: string, options: RequestOptions = {}): Promise<HttpAttempt> {
  const started = Date.now();
  const headers: Record<string, string> = { ...options.headers };
  let body: string | undefined;
  if (options.rawBody !== undefined) body = options.rawBody;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  try {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body } : {}),
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return {
      ok: true,
      response: {
        status: res.status,
        contentType: res.headers.get('content-type') ?? '',
        headers: res.headers,
        text,
        json,
        ms: Date.now() - started,
      },
    };
  } catch (error) {
    const name = (error as { name?: string }).name;
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return {
      ok: false,
      error: cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error)),
      timedOut: name === 'TimeoutError' || name === 'AbortError',
      ms: Date.now() - started,
    };
  }
}

export function problemCode(response: HttpResponse): string | undefined {
  const code = (response.json as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
