import { describe, expect, it } from 'vitest';
import { deadLetterDue } from '../../../../../../src/shared/infrastructure/messaging/ecs/launch-policy.js';
import {
  classifyStartFailure,
  type StartFailureEvidence,
} from '../../../../../../src/shared/infrastructure/messaging/ecs/start-failure-class.js';
import { DEFAULT_START_FAILURE_REASONS } from '../../../../../../src/dev/ecs-local/faults.js';

const failed = (reason: string, extra: Partial<StartFailureEvidence> = {}): StartFailureEvidence => ({
  stopCode: 'TaskFailedToStart',
  reason,
  ...extra,
});

describe('classifyStartFailure', () => {
  it.each<[string, StartFailureEvidence, 'permanent' | 'transient']>([
    // What no retry fixes.
    [
      'image tag not found',
      failed('CannotPullContainerError: failed to resolve ref 1.dkr.ecr.us-east-1.amazonaws.com/saga:v9: not found'),
      'permanent',
    ],
    ['manifest unknown', failed('CannotPullContainerError: ref pull has been retried 1 time(s): manifest unknown'), 'permanent'],
    [
      'repository missing',
      failed('CannotPullContainerError: repository 1.dkr.ecr.us-east-1.amazonaws.com/nope does not exist'),
      'permanent',
    ],
    ['execution role may not pull', failed('CannotPullContainerError: pull access denied for saga'), 'permanent'],
    [
      'secret not readable',
      failed(
        'ResourceInitializationError: unable to retrieve secret from asm: AccessDeniedException: User is not authorized to perform: secretsmanager:GetSecretValue',
      ),
      'permanent',
    ],
    [
      'secret missing',
      failed(
        "ResourceInitializationError: unable to retrieve secret: ResourceNotFoundException: Secrets Manager can't find the specified secret.",
      ),
      'permanent',
    ],
    ['configuration refused', { stopCode: 'EssentialContainerExited', reason: 'exit code 78', exitCode: 78 }, 'permanent'],
    [
      'code that exits before its heartbeat',
      { stopCode: 'EssentialContainerExited', reason: 'exit code 1 (before its first heartbeat)', exitCode: 1 },
      'permanent',
    ],
    // What comes back by itself.
    ['registry i/o timeout', failed('CannotPullContainerError: dial tcp 10.0.3.17:443: i/o timeout'), 'transient'],
    ['registry deadline', failed('CannotPullContainerError: context deadline exceeded'), 'transient'],
    ['registry throttled', failed('CannotPullContainerError: toomanyrequests: Rate exceeded'), 'transient'],
    [
      'secret read throttled',
      failed('ResourceInitializationError: unable to pull secrets or registry auth: ThrottlingException: Rate exceeded'),
      'transient',
    ],
    ['ENI', failed('Timeout waiting for network interface provisioning to complete.'), 'transient'],
    ['capacity', failed('Capacity is unavailable at this time. Please try again later or in a different availability zone'), 'transient'],
    ['start timeout', { stopCode: 'StartTimeout', reason: 'no heartbeat after the start timeout (PENDING)' }, 'transient'],
    ['a cause never seen before', failed('SomethingNewError: the unexpected'), 'transient'],
  ])('%s: %s', (_name, evidence, expected) => {
    expect(classifyStartFailure(evidence)).toBe(expected);
  });

  it("the local endpoint's default start failures are permanent (its transient ones are set by the tests that need them)", () => {
    for (const reason of DEFAULT_START_FAILURE_REASONS) expect(classifyStartFailure(failed(reason))).toBe('permanent');
  });
});

describe('deadLetterDue', () => {
  const thresholds = { failures: 5, forMs: 300_000 };
  it.each([
    { failures: 4, failingForMs: 600_000, due: false },
    { failures: 5, failingForMs: 299_999, due: false },
    { failures: 5, failingForMs: 300_000, due: true },
    { failures: 50, failingForMs: 10_000, due: false },
  ])('$failures permanent failures over $failingForMs ms: $due', ({ failures, failingForMs, due }) => {
    expect(deadLetterDue({ failures, failingForMs }, thresholds)).toBe(due);
  });
});
