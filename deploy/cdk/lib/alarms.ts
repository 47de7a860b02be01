import { CfnOutput, Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import type { DeploySettings } from './settings.js';

export const METRIC_NAMESPACE = 'Saga';

/**
 * Metric filters on the JSON lines (pino: `msg`, `level`) the processes already write, so an
 * alarm needs no code beyond its log line. The texts are the system's own (src/shared/infrastructure/messaging).
 */
export const LOG_METRICS = {
  DeadLetters: {
    pattern: logs.FilterPattern.any(
      logs.FilterPattern.stringValue('$.msg', '=', 'delivery dead-lettered after its last attempt'),
      logs.FilterPattern.stringValue('$.msg', '=', 'invalid message dead-lettered'),
      logs.FilterPattern.stringValue(
        '$.msg',
        '=',
        'ecs tasks keep failing to start: pending deliveries dead-lettered (re-drive them once the cause is fixed)',
      ),
    ),
    value: '1',
  },
  TaskStartFailures: { pattern: logs.FilterPattern.stringValue('$.msg', '=', 'ecs task failed to start'), value: '1' },
  LaunchBreakerOpened: {
    pattern: logs.FilterPattern.stringValue('$.msg', '=', 'RunTask failed; no launch for this use case before the backoff'),
    value: '1',
  },
  /** Logged by each sweep that finds due deliveries nobody carried: the age of the oldest of them. */
  OldestPendingAgeMs: {
    pattern: logs.FilterPattern.all(
      logs.FilterPattern.stringValue('$.msg', '=', 'signalling due deliveries again'),
      logs.FilterPattern.exists('$.oldestPendingAgeMs'),
    ),
    value: '$.oldestPendingAgeMs',
  },
} as const;

export interface AlarmSources {
  readonly logGroups: readonly logs.ILogGroup[];
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly targetGroup: elbv2.ApplicationTargetGroup;
  readonly databaseCpu: cloudwatch.IMetric;
  readonly databaseConnections: cloudwatch.IMetric;
  readonly maxConnections: number;
  /** ORDER_DEADLINE_MS of the deployment: the oldest pending age alarms at half of it. */
  readonly orderDeadlineMs: number;
  readonly eventBus: 'ecs' | 'bullmq';
}

/** The alarms an operator pages on, all to one SNS topic (an output; an e-mail subscription by context). */
export class Alarms extends Construct {
  readonly topic: sns.Topic;

  constructor(scope: Construct, id: string, settings: DeploySettings, sources: AlarmSources) {
    super(scope, id);
    const key = new kms.Key(this, 'TopicKey', { enableKeyRotation: true, description: 'encrypts the saga alarm topic' });
    key.grant(new iam.ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    this.topic = new sns.Topic(this, 'Topic', { displayName: `saga ${settings.envName} alarms`, masterKey: key, enforceSSL: true });
    if (settings.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(settings.alarmEmail));
    new CfnOutput(scope, 'AlarmTopicArn', {
      value: this.topic.topicArn,
      description: 'SNS topic of the saga alarms: subscribe the on-call here',
    });
    const metric = this.logMetrics(sources.logGroups);
    this.alarm('DeadLetters', metric('DeadLetters', 'Sum'), 0, 'a delivery was dead-lettered: GET /admin/dead-letters, fix, re-drive');
    this.alarm(
      'OldestPendingAge',
      metric('OldestPendingAgeMs', 'Maximum'),
      sources.orderDeadlineMs / 2,
      'deliveries wait longer than half the order deadline: consumers fall behind',
    );
    if (sources.eventBus === 'ecs') {
      this.alarm(
        'TaskStartFailures',
        metric('TaskStartFailures', 'Sum'),
        0,
        'an ECS task failed to start: image, secret, log group, task role',
      );
      this.alarm(
        'LaunchBreakerOpen',
        metric('LaunchBreakerOpened', 'Sum'),
        0,
        'RunTask failed and the launch breaker opened: IAM, cluster, pinned revision, subnets',
      );
      // The sweeper's schedule could not start its task (RunTask refused: role, revision, subnets).
      const scheduleErrors = new cloudwatch.Metric({
        namespace: 'AWS/Scheduler',
        metricName: 'TargetErrorCount',
        dimensionsMap: { ScheduleGroup: 'default' },
        statistic: 'Sum',
        period: Duration.minutes(5),
      });
      this.alarm(
        'SweeperScheduleErrors',
        scheduleErrors,
        0,
        'EventBridge Scheduler could not start the sweeper: lost signals and start failures wait',
      );
    }
    this.resourceAlarms(sources);
  }

  private logMetrics(groups: readonly logs.ILogGroup[]) {
    for (const [name, { pattern, value }] of Object.entries(LOG_METRICS))
      groups.forEach(
        (group, i) =>
          new logs.MetricFilter(this, `${name}Filter${i}`, {
            logGroup: group,
            filterPattern: pattern,
            metricNamespace: METRIC_NAMESPACE,
            metricName: name,
            metricValue: value,
          }),
      );
    return (name: keyof typeof LOG_METRICS, statistic: string) =>
      new cloudwatch.Metric({ namespace: METRIC_NAMESPACE, metricName: name, statistic, period: Duration.minutes(1) });
  }

  private resourceAlarms(sources: AlarmSources): void {
    const lb = sources.loadBalancer.metrics;
    this.alarm(
      'Api5xx',
      lb.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, { period: Duration.minutes(1), statistic: 'Sum' }),
      10,
      'the API answers 5xx (503 OVERLOADED included)',
    );
    this.alarm(
      'Alb5xx',
      lb.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, { period: Duration.minutes(1), statistic: 'Sum' }),
      10,
      'the load balancer answers 5xx: no healthy API target',
    );
    this.alarm('DatabaseCpu', sources.databaseCpu, 80, 'PostgreSQL CPU above 80 % for 15 minutes', 3);
    this.alarm(
      'DatabaseConnections',
      sources.databaseConnections,
      Math.floor(sources.maxConnections * 0.9),
      'PostgreSQL connections near max_connections',
      2,
    );
  }

  private alarm(id: string, metric: cloudwatch.IMetric, threshold: number, description: string, evaluationPeriods = 1): void {
    const alarm = new cloudwatch.Alarm(this, id, {
      metric,
      threshold,
      evaluationPeriods,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: description,
    });
    alarm.addAlarmAction(new actions.SnsAction(this.topic));
    alarm.addOkAction(new actions.SnsAction(this.topic));
  }
}
