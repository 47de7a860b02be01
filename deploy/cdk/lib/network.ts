import { isIPv4, isIPv6 } from 'node:net';
import { Annotations, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { DeploySettings, TracingSettings } from './settings.js';

/**
 * Where the application's OTLP/HTTP exports go, as a security group peer: the address itself when
 * the endpoint names one, any IPv4 address when it names a host (its addresses are unknown at
 * synthesis; an ADOT collector behind a load balancer changes them), nothing for the loopback (a
 * sidecar collector: a task's own containers share its network namespace, no rule is involved).
 */
export function otlpPeer(host: string): ec2.IPeer | undefined {
  const address = host.replace(/^\[(.*)\]$/, '$1');
  if (address === 'localhost' || address === '::1' || (isIPv4(address) && address.startsWith('127.'))) return undefined;
  if (isIPv4(address)) return ec2.Peer.ipv4(`${address}/32`);
  if (isIPv6(address)) return ec2.Peer.ipv6(`${address}/128`);
  return ec2.Peer.anyIpv4();
}

/**
 * The VPC (created, or imported from context), the subnets the tasks run in, their way to the AWS
 * APIs, and the security groups: the ALB takes the internet; the API takes only the ALB; nothing
 * takes connections to the use-case tasks; PostgreSQL (and Redis) take only the API and the tasks.
 */
export class Network extends Construct {
  readonly vpc: ec2.IVpc;
  readonly taskSubnets: ec2.SubnetSelection;
  readonly publicSubnets: ec2.SubnetSelection;
  readonly albSg: ec2.SecurityGroup;
  readonly apiSg: ec2.SecurityGroup;
  /** The use-case tasks, the sweeper, the migration and (BullMQ) the workers. */
  readonly tasksSg: ec2.SecurityGroup;
  readonly databaseSg: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, settings: DeploySettings) {
    super(scope, id);
    this.vpc = settings.importedVpc ? this.importVpc(settings) : this.createVpc(settings);
    this.taskSubnets = settings.importedVpc
      ? { subnets: this.vpc.privateSubnets }
      : { subnetType: settings.egress === 'nat' ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PRIVATE_ISOLATED };
    this.publicSubnets = { subnetType: ec2.SubnetType.PUBLIC };
    this.albSg = this.group('Alb', 'the load balancer: HTTP(S) from the internet');
    this.apiSg = this.group('Api', 'the API service: only the load balancer may connect');
    this.tasksSg = this.group('Tasks', 'use-case tasks, sweeper, migration, workers: no inbound');
    this.databaseSg = this.group('Database', 'PostgreSQL: only the API and the tasks may connect');
    this.apiSg.addIngressRule(this.albSg, ec2.Port.tcp(3000), 'HTTP from the load balancer only');
    for (const app of [this.apiSg, this.tasksSg]) {
      app.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'AWS APIs (ECR, ECS, Logs, Secrets Manager, S3) over TLS');
      app.addEgressRule(this.databaseSg, ec2.Port.tcp(5432), 'PostgreSQL');
      this.databaseSg.addIngressRule(app, ec2.Port.tcp(5432), 'PostgreSQL from the application');
      if (settings.tracing) this.allowTraceExport(app, settings.tracing);
    }
    this.albSg.addEgressRule(this.apiSg, ec2.Port.tcp(3000), 'to the API tasks');
    if (settings.egress === 'endpoints') this.addEndpoints();
    this.addS3GatewayEndpoint(settings);
  }

  /**
   * Always, whatever the egress: ECR serves image layers from S3, and Fargate pulls the whole image
   * at every task start. Through a NAT gateway that is $0.045 per GB (the sweeper's runs alone,
   * every minute, move about 4 TB a month); through this gateway endpoint nothing (docs/cost.md).
   * An imported VPC gets it only with its route tables (the endpoint is a route).
   */
  private addS3GatewayEndpoint(settings: DeploySettings): void {
    if (settings.importedVpc && settings.importedVpc.privateRouteTableIds.length === 0) {
      Annotations.of(this).addInfo(
        'the imported VPC gets no S3 gateway endpoint without context privateRouteTableIds: image layers then go through whatever routes it has (a NAT gateway bills them per GB)',
      );
      return;
    }
    this.vpc.addGatewayEndpoint('S3', { service: ec2.GatewayVpcEndpointAwsService.S3, subnets: [this.taskSubnets] });
  }

  /**
   * The OTLP/HTTP endpoint's port, unless the 443 rule above covers it already (a collector on
   * 4318, say). Every process but the migration exports spans, so the API and the tasks both.
   */
  private allowTraceExport(app: ec2.SecurityGroup, tracing: TracingSettings): void {
    const peer = otlpPeer(tracing.host);
    if (!peer || tracing.port === 443) return;
    app.addEgressRule(peer, ec2.Port.tcp(tracing.port), `OpenTelemetry traces (OTLP/HTTP) to ${tracing.host}`.slice(0, 255));
  }

  private group(id: string, description: string, allowAllOutbound = false): ec2.SecurityGroup {
    return new ec2.SecurityGroup(this, `${id}Sg`, { vpc: this.vpc, description, allowAllOutbound });
  }

  private createVpc(settings: DeploySettings): ec2.Vpc {
    const privateType = settings.egress === 'nat' ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PRIVATE_ISOLATED;
    const flowLogs = new logs.LogGroup(this, 'FlowLogs', {
      retention: settings.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    return new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr('10.40.0.0/16'),
      availabilityZones: [...settings.availabilityZones],
      // One NAT gateway in dev (an AZ outage stops egress; acceptable there), one per zone in prod.
      natGateways: settings.egress === 'nat' ? (settings.envName === 'prod' ? settings.availabilityZones.length : 1) : 0,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'tasks', subnetType: privateType, cidrMask: 20 },
        { name: 'data', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
      flowLogs: {
        rejected: { destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs), trafficType: ec2.FlowLogTrafficType.REJECT },
      },
    });
  }

  private importVpc(settings: DeploySettings): ec2.IVpc {
    const vpc = settings.importedVpc!;
    const routeTables = vpc.privateRouteTableIds.length > 0;
    if (settings.egress === 'endpoints' && !routeTables)
      throw new Error('egress=endpoints in an imported VPC needs context privateRouteTableIds (the S3 gateway endpoint is a route)');
    const imported = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
      vpcId: vpc.vpcId,
      vpcCidrBlock: vpc.vpcCidr,
      availabilityZones: [...vpc.availabilityZones],
      privateSubnetIds: [...vpc.privateSubnetIds],
      publicSubnetIds: [...vpc.publicSubnetIds],
      ...(routeTables ? { privateSubnetRouteTableIds: [...vpc.privateRouteTableIds] } : {}),
    });
    Validations.of(imported).acknowledge({
      id: '@aws-cdk/aws-ec2:noSubnetRouteTableId',
      reason: 'the app reads the route tables of an imported VPC only for the S3 gateway endpoint, which requires privateRouteTableIds',
    });
    return imported;
  }

  /**
   * Without a NAT the tasks reach AWS through endpoints: ECR (API and registry) and S3 (the image
   * layers) to pull, Logs for awslogs, Secrets Manager for DATABASE_URL, ECS for RunTask.
   */
  private addEndpoints(): void {
    const endpointSg = this.group('Endpoints', 'interface endpoints: HTTPS from the application');
    for (const app of [this.apiSg, this.tasksSg]) endpointSg.addIngressRule(app, ec2.Port.tcp(443), 'HTTPS from the application');
    const services: Record<string, ec2.InterfaceVpcEndpointAwsService> = {
      EcrApi: ec2.InterfaceVpcEndpointAwsService.ECR,
      EcrDocker: ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
      Logs: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
      SecretsManager: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
      Ecs: ec2.InterfaceVpcEndpointAwsService.ECS,
    };
    for (const [id, service] of Object.entries(services))
      this.vpc.addInterfaceEndpoint(id, { service, subnets: this.taskSubnets, securityGroups: [endpointSg], open: false });
  }

  /** The subnets the database lives in: isolated, apart from the tasks'. */
  get dataSubnets(): ec2.SubnetSelection {
    return this.vpc instanceof ec2.Vpc ? { subnetGroupName: 'data' } : this.taskSubnets;
  }
}
