/**
 * Imported first by every task entrypoint, so that from the process' first milliseconds a
 * SIGTERM (StopTask, spot interruption) is a request to stop cleanly, not an abrupt death.
 */
let requested: NodeJS.Signals | undefined;
const listeners = new Set<() => void>();

const request = (signal: NodeJS.Signals) => {
  requested = signal;
  for (const listener of listeners) listener();
};
process.once('SIGTERM', request);
process.once('SIGINT', request);

export function stopRequested(): NodeJS.Signals | undefined {
  return requested;
}

/** Calls `listener` when a stop is requested (so an idle wait ends at once); returns the unsubscribe. */
export function onStopRequested(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
