import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledgeSettingsInEnvironment, type Compute } from './compute.js';
import type { Network } from './network.js';
import type { DeploySettings } from './settings.js';

const PORT = 3000;

/**
 * The API (the image's default command: HTTP and the outbox relay of what it writes) as a Fargate
 * service behind an internet-facing ALB: HTTPS when a certificate is given (HTTP redirects to it),
 * target health on /health/live, a deployment circuit breaker that rolls back, and autoscaling on
 * CPU and on requests per target between the configured bounds. Target health is the process's
 * liveness, not /health/ready: ECS replaces a target the ALB finds unhealthy, and PostgreSQL away
 * for a failover makes every task not ready at once, so a readiness check would have ECS replace
 * the whole service, in a loop, during an outage that no new task can fix (ADR 30). A task listens
 * only once it has reached its database (the API checks its migrations first), so live means it
 * has started, which is what a rolling deployment needs.
 */
export class ApiService extends Construct {
  readonly service: ecs.FargateService;
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly targetGroup: elbv2.ApplicationTargetGroup;
  readonly taskRole: iam.Role;
  readonly url: string;
  /** The API container's plain settings (tokens where CloudFormation fills them in): what tests run the API with. */
  readonly environment: Readonly<Record<string, string>>;

  constructor(
    scope: Construct,
    id: string,
    compute: Compute,
    network: Network,
    settings: DeploySettings,
    container: { environment: Record<string, string>; secrets: Record<string, ecs.Secret> },
  ) {
    super(scope, id);
    this.environment = container.environment;
    this.taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'ECS task role: the API service',
    });
    const taskDefinition = new ecs.FargateTaskDefinition(this, 'TaskDefinition', {
      family: `${settings.familyPrefix}saga-api`,
      cpu: settings.apiCpu,
      memoryLimitMiB: settings.apiMemoryMiB,
      runtimePlatform: { cpuArchitecture: compute.cpuArchitecture, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
      taskRole: this.taskRole,
      executionRole: compute.executionRole,
    });
    taskDefinition.addContainer('app', {
      image: compute.image,
      essential: true,
      portMappings: [{ containerPort: PORT }],
      stopTimeout: Duration.seconds(30),
      environment: container.environment,
      secrets: container.secrets,
      logging: ecs.LogDrivers.awsLogs({ logGroup: compute.logGroups.api, streamPrefix: 'api' }),
    });
    acknowledgeSettingsInEnvironment(taskDefinition);
    this.service = new ecs.FargateService(this, 'Service', {
      cluster: compute.cluster,
      taskDefinition,
      desiredCount: settings.apiMinTasks,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      vpcSubnets: network.taskSubnets,
      securityGroups: [network.apiSg],
      assignPublicIp: false,
      circuitBreaker: { enable: true, rollback: true },
      healthCheckGracePeriod: Duration.seconds(60),
    });
    this.loadBalancer = this.createLoadBalancer(network, settings);
    this.targetGroup = this.listen(network, settings);
    this.url = `${settings.certificateArn ? 'https' : 'http'}://${this.loadBalancer.loadBalancerDnsName}`;
    this.autoscale(settings);
  }

  private createLoadBalancer(network: Network, settings: DeploySettings): elbv2.ApplicationLoadBalancer {
    const alb = new elbv2.ApplicationLoadBalancer(this, 'Alb', {
      vpc: network.vpc,
      internetFacing: true,
      vpcSubnets: network.publicSubnets,
      securityGroup: network.albSg,
      dropInvalidHeaderFields: true,
      deletionProtection: settings.envName === 'prod',
    });
    const logs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      lifecycleRules: [{ expiration: Duration.days(settings.logRetentionDays) }],
      removalPolicy: settings.envName === 'prod' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      autoDeleteObjects: false,
    });
    Validations.of(logs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'this bucket holds the load balancer access logs; logging its own access would need another bucket, and so on',
    });
    alb.logAccessLogs(logs, 'alb');
    return alb;
  }

  private listen(network: Network, settings: DeploySettings): elbv2.ApplicationTargetGroup {
    const targetGroup = new elbv2.ApplicationTargetGroup(this, 'Targets', {
      vpc: network.vpc,
      port: PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targetType: elbv2.TargetType.IP,
      targets: [this.service],
      deregistrationDelay: Duration.seconds(30),
      healthCheck: {
        path: '/health/live',
        healthyHttpCodes: '200',
        interval: Duration.seconds(15),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
      },
    });
    if (settings.certificateArn) {
      this.loadBalancer.addListener('Https', {
        port: 443,
        protocol: elbv2.ApplicationProtocol.HTTPS,
        certificates: [acm.Certificate.fromCertificateArn(this, 'Certificate', settings.certificateArn)],
        sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
        defaultTargetGroups: [targetGroup],
        open: true,
      });
      this.loadBalancer.addRedirect({ sourcePort: 80, targetPort: 443 });
    } else {
      this.loadBalancer.addListener('Http', {
        port: 80,
        protocol: elbv2.ApplicationProtocol.HTTP,
        defaultTargetGroups: [targetGroup],
        open: true,
      });
    }
    Validations.of(network.albSg).acknowledge({
      id: 'AwsSolutions-EC23',
      reason: 'the public API: the load balancer takes HTTP(S) from the internet, and only it reaches the API tasks',
    });
    return targetGroup;
  }

  private autoscale(settings: DeploySettings): void {
    const scaling = this.service.autoScaleTaskCount({ minCapacity: settings.apiMinTasks, maxCapacity: settings.apiMaxTasks });
    scaling.scaleOnCpuUtilization('Cpu', {
      targetUtilizationPercent: 60,
      scaleOutCooldown: Duration.seconds(60),
      scaleInCooldown: Duration.seconds(300),
    });
    scaling.scaleOnRequestCount('Requests', { requestsPerTarget: 1000, targetGroup: this.targetGroup });
  }
}
