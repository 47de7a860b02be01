/** The outcome of asking a server whether it answers, with the reason when it does not. */
export type ProbeResult = { ok: true } | { ok: false; reason: string };

export const PROBE_TIMEOUT_MS = 1_000;

export function describeError(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return error.errors.map(describeError).join('; ');
  }
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
