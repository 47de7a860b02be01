/**
 * Exponential backoff with jitter: attempt n waits between half and all of base * 2^(n-1),
 * capped, so retries of many failed deliveries spread out instead of arriving together.
 */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const exponential = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exponential / 2 + random() * (exponential / 2));
}
