import type { Task } from '@aws-sdk/client-ecs';
import { taskFamilyOf } from '../../../../../../src/shared/infrastructure/messaging/ecs/task-family.js';
import { describe, expect, it } from 'vitest';
import {
  startOutcome,
  tasksToLaunch,
  wantedTasks,
  type AttemptProgress,
} from '../../../../../../src/shared/infrastructure/messaging/ecs/launch-policy.js';

const limits = { maxTasksPerUseCase: 8, scaleOutBacklog: 50, taskConcurrency: 4 };

describe('wantedTasks', () => {
  it.each([
    { deliveries: 0, keys: 0, wanted: 0 },
    { deliveries: 1, keys: 1, wanted: 1 },
    { deliveries: 50, keys: 50, wanted: 1 },
    { deliveries: 51, keys: 51, wanted: 2 },
    // Tasks beyond what the keys can keep busy only wait.
    { deliveries: 400, keys: 3, wanted: 1 },
    { deliveries: 400, keys: 9, wanted: 3 },
    { deliveries: 10_000, keys: 10_000, wanted: 8 },
  ])('$deliveries deliveries on $keys keys want $wanted', ({ deliveries, keys, wanted }) => {
    expect(wantedTasks({ deliveries, keys }, limits)).toBe(wanted);
  });
});

describe('tasksToLaunch', () => {
  it.each([
    { wanted: 3, current: 0, failures: 0, probeInFlight: false, launch: 3 },
    { wanted: 3, current: 3, failures: 0, probeInFlight: false, launch: 0 },
    { wanted: 2, current: 3, failures: 0, probeInFlight: false, launch: -1 },
    { wanted: 30, current: 0, failures: 0, probeInFlight: false, launch: 10 },
    // Half-open: one probe.
    { wanted: 5, current: 0, failures: 2, probeInFlight: false, launch: 1 },
    // Half-open with a task running and a growing backlog: still a probe (the old ceiling of 1 launched none).
    { wanted: 5, current: 1, failures: 1, probeInFlight: false, launch: 1 },
    { wanted: 1, current: 1, failures: 1, probeInFlight: false, launch: 0 },
    // One probe at a time.
    { wanted: 5, current: 1, failures: 1, probeInFlight: true, launch: 0 },
  ])(
    'wanted $wanted, current $current, failures $failures, probe in flight $probeInFlight: $launch',
    ({ wanted, current, failures, probeInFlight, launch }) => {
      expect(tasksToLaunch(wanted, current, { failures, probeInFlight })).toBe(launch);
    },
  );
});

const fresh: AttemptProgress = { running: false, marks_running: true, overdue: false, stale: false };
const heartbeated: AttemptProgress = { ...fresh, running: true };

function task(lastStatus: string, extra: Partial<Task> = {}): Task {
  return { taskArn: 'arn:t', lastStatus, ...extra };
}

describe('startOutcome', () => {
  it.each<[string, Task | undefined, AttemptProgress, string]>([
    ['unknown to ECS, recent', undefined, fresh, 'starting'],
    ['unknown to ECS, stale', undefined, { ...fresh, stale: true }, 'crashed'],
    ['PROVISIONING', task('PROVISIONING'), fresh, 'starting'],
    ['RUNNING, no heartbeat yet', task('RUNNING'), fresh, 'starting'],
    ['RUNNING, heartbeated', task('RUNNING'), heartbeated, 'started'],
    ['RUNNING, older release, at the start timeout', task('RUNNING'), { ...fresh, marks_running: false, overdue: true }, 'started'],
    ['PENDING past the start timeout', task('PENDING'), { ...fresh, overdue: true }, 'failed'],
    ['TaskFailedToStart', task('STOPPED', { stopCode: 'TaskFailedToStart', stoppedReason: 'CannotPullContainerError' }), fresh, 'failed'],
    ['exit 78', task('STOPPED', { stopCode: 'EssentialContainerExited', containers: [{ exitCode: 78 }] }), heartbeated, 'failed'],
    ['exit 0', task('STOPPED', { stopCode: 'EssentialContainerExited', containers: [{ exitCode: 0 }] }), heartbeated, 'started'],
    [
      'SIGKILL after its heartbeat',
      task('STOPPED', { stopCode: 'EssentialContainerExited', containers: [{ exitCode: 137 }] }),
      heartbeated,
      'crashed',
    ],
    [
      'exit 1 before its heartbeat',
      task('STOPPED', { stopCode: 'EssentialContainerExited', containers: [{ exitCode: 1 }] }),
      fresh,
      'failed',
    ],
    [
      'Spot reclaim before its heartbeat',
      task('STOPPED', { stopCode: 'SpotInterruption', containers: [{ exitCode: 143 }] }),
      fresh,
      'crashed',
    ],
    ['STOPPING, exit unknown', task('STOPPING'), heartbeated, 'starting'],
  ])('%s: %s', (_name, described, attempt, kind) => {
    expect(startOutcome(described, attempt).kind).toBe(kind);
  });

  it('exit 75 before the first heartbeat backs off without counting a start failure', () => {
    const outcome = startOutcome(task('STOPPED', { stopCode: 'EssentialContainerExited', containers: [{ exitCode: 75 }] }), fresh);
    expect(outcome).toMatchObject({ kind: 'failed', start: false });
  });

  it('a task that never heartbeated by the start timeout is stopped', () => {
    expect(startOutcome(task('RUNNING'), { ...fresh, overdue: true })).toMatchObject({
      kind: 'failed',
      stopCode: 'StartTimeout',
      stopTask: true,
    });
  });

  it('a task stopped for its start timeout and seen stopped a pass later is still a start failure, not a crash', () => {
    const stopped = task('STOPPED', {
      stopCode: 'UserInitiated',
      stoppedReason: 'no heartbeat after the start timeout (PROVISIONING)',
      containers: [{ exitCode: 143 }],
    });
    expect(startOutcome(stopped, { ...fresh, overdue: true })).toMatchObject({ kind: 'failed', stopCode: 'StartTimeout', stopTask: false });
    // Once it heartbeated, a stop is not its start's.
    expect(startOutcome(stopped, { ...heartbeated, overdue: true }).kind).not.toBe('failed');
  });
});

describe('taskFamilyOf', () => {
  it('replaces every dot, not only the first', () => {
    expect(taskFamilyOf('customer.reserve-credit')).toBe('customer-reserve-credit');
    expect(taskFamilyOf('billing.v2.charge-card')).toBe('billing-v2-charge-card');
  });
});
