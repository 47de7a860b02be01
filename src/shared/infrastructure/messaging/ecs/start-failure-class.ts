/**
 * Whether a task that did not start will fail the same way however often it is launched
 * (`permanent`: an image or a task definition that does not exist, access denied to the image or
 * its secrets, a configuration refused, code that exits before its first heartbeat) or may start
 * next time (`transient`: a registry or NAT hiccup, a throttled secret read, no capacity, an ENI
 * that took too long, a start timeout). Only permanent failures may dead-letter deliveries (ADR 36);
 * a cause not recognised here is transient: it backs off and raises an alarm, and is never the
 * reason business work is rejected.
 *
 * Reasons as Fargate writes them in `stoppedReason` (and the container's `reason`), from the ECS
 * developer guide's "stopped tasks error messages": `CannotPullContainerError: ...`,
 * `ResourceInitializationError: ...`, `Timeout waiting for network interface provisioning to complete.`
 */
export type StartFailureClass = 'permanent' | 'transient';

/** What was seen of a task that did not start. */
export interface StartFailureEvidence {
  readonly stopCode: string;
  readonly reason: string;
  /** Its essential container's exit code, when it exited. */
  readonly exitCode?: number | undefined;
}

/** Reasons no retry fixes: the thing does not exist, or the task may not read it. */
const PERMANENT_REASONS: readonly RegExp[] = [
  /manifest (for \S+ )?(unknown|not found)/i,
  /repository (\S+ )?(does not exist|not found)/i,
  /not found: manifest unknown/i,
  /failed to resolve ref \S+: not found/i,
  /pull access denied/i,
  /no basic auth credentials/i,
  /AccessDenied/i,
  /not authorized to perform/i,
  /is not authorized/i,
  /403 Forbidden/i,
  /ResourceNotFoundException/i,
  /secrets? .*(does not exist|not found|was not found|can't find)/i,
  /parameters? .*(does not exist|not found|invalid)/i,
  /InvalidParameter/i,
  /task definition .*(inactive|not found|does not exist)/i,
  /CannotStartContainerError: .*(exec format error|executable file not found|no such file or directory)/i,
];

/** Recognised transient causes (anything unrecognised is transient too; these are listed so the tests pin them). */
const TRANSIENT_REASONS: readonly RegExp[] = [
  /i\/o timeout/i,
  /context deadline exceeded/i,
  /TLS handshake timeout/i,
  /connection (reset|refused)/i,
  /toomanyrequests|429 Too Many Requests|Rate exceeded|Throttling/i,
  /Timeout waiting for network interface/i,
  /Capacity is unavailable/i,
  /ResourceInitializationError/i,
];

/** The exit of a task whose configuration was refused (EX_CONFIG). */
const CONFIG_EXIT_CODE = 78;

export function classifyStartFailure(evidence: StartFailureEvidence): StartFailureClass {
  if (evidence.exitCode === CONFIG_EXIT_CODE) return 'permanent';
  if (evidence.stopCode === 'StartTimeout') return 'transient';
  const text = `${evidence.stopCode}: ${evidence.reason}`;
  if (PERMANENT_REASONS.some((p) => p.test(text))) return 'permanent';
  if (TRANSIENT_REASONS.some((p) => p.test(text))) return 'transient';
  // Code that exited before its first heartbeat (a module it cannot load, a database that does not
  // exist): launching it again runs the same code. EX_TEMPFAIL (75) never gets here: it only backs off.
  if (evidence.stopCode !== 'TaskFailedToStart' && evidence.exitCode !== undefined && evidence.exitCode !== 0) return 'permanent';
  return 'transient';
}
