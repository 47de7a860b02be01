/**
 * Imported first by every task entrypoint, so that from the process' first milliseconds a
 * SIGTERM (StopTask, spot interruption) is a request to stop cleanly, not an abrupt death.
 */
let requested: NodeJS.Signals | undefined;

const request = (signal: NodeJS.Signals) => {
  requested = signal;
};
process.once('SIGTERM', request);
process.once('SIGINT', request);

export function stopRequested(): NodeJS.Signals | undefined {
  return requested;
}
