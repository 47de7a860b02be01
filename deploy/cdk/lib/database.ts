import { Duration, Fn, RemovalPolicy, SecretValue, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { acknowledge } from './nag.js';
import type { Network } from './network.js';
import type { DeploySettings } from './settings.js';

/**
 * About what RDS's max_connections gives for an instance class (LEAST(memory / 9531392, 5000),
 * less what RDS keeps), and the budget the system may use of it: about 10 % stays free for
 * operators, migrations and the consistency check (docs/deployment.md, Connections).
 */
const BUDGET_BY_INSTANCE_CLASS: Readonly<Record<string, { maxConnections: number; budget: number }>> = {
  't4g.micro': { maxConnections: 80, budget: 60 },
  't4g.small': { maxConnections: 190, budget: 160 },
  't4g.medium': { maxConnections: 410, budget: 360 },
  'm6g.large': { maxConnections: 850, budget: 750 },
};

/** Aurora Serverless v2 sizes max_connections from its maximum capacity: about 95 a ACU (2 GiB each). */
function auroraConnections(maxAcu: number): { maxConnections: number; budget: number } {
  const maxConnections = Math.min(5000, Math.floor(maxAcu * 95));
  return { maxConnections, budget: Math.floor(maxConnections * 0.85) };
}

export function connectionLimits(settings: DeploySettings): { maxConnections: number; budget: number } {
  if (settings.database === 'aurora') return auroraConnections(settings.auroraMaxAcu);
  const limits = BUDGET_BY_INSTANCE_CLASS[settings.dbInstanceClass];
  if (!limits)
    throw new Error(
      `dbInstanceClass ${settings.dbInstanceClass}: no connection figure; use one of ${Object.keys(BUDGET_BY_INSTANCE_CLASS).join(', ')}`,
    );
  return limits;
}

type CommonProps = Pick<
  rds.DatabaseInstanceProps,
  | 'vpc'
  | 'vpcSubnets'
  | 'securityGroups'
  | 'credentials'
  | 'storageEncrypted'
  | 'deletionProtection'
  | 'removalPolicy'
  | 'cloudwatchLogsExports'
>;

/** Characters a URL would need escaped: kept out of the generated password so DATABASE_URL is a plain join. */
const NOT_IN_URL = ' %+~`#$&*()|[]{}:;<>?!\'/@"\\=,.^';
const DATABASE_NAME = 'saga';

/**
 * PostgreSQL (RDS, or Aurora Serverless v2 with context database=aurora): encrypted, backed up,
 * Multi-AZ and deletion-protected in prod, in isolated subnets, reachable only from the
 * application's security groups. The master credentials are generated into Secrets Manager, and
 * DATABASE_URL is a second secret that CloudFormation assembles from them by dynamic reference
 * (the password never appears in the template); the tasks receive it as an ECS secret.
 */
export class Database extends Construct {
  readonly databaseUrl: secretsmanager.Secret;
  readonly cpu: cloudwatch.IMetric;
  readonly connections: cloudwatch.IMetric;
  readonly limits: { maxConnections: number; budget: number };
  /** What the migration must wait for. */
  readonly resource: Construct;
  private readonly master: { readonly secret: secretsmanager.ISecret; readonly target: rds.DatabaseInstance | rds.DatabaseCluster };

  constructor(scope: Construct, id: string, network: Network, settings: DeploySettings) {
    super(scope, id);
    const prod = settings.envName === 'prod';
    this.limits = connectionLimits(settings);
    const credentials = rds.Credentials.fromGeneratedSecret('saga', { excludeCharacters: NOT_IN_URL });
    const common: CommonProps = {
      vpc: network.vpc,
      vpcSubnets: network.dataSubnets,
      securityGroups: [network.databaseSg],
      credentials,
      storageEncrypted: true,
      deletionProtection: prod,
      removalPolicy: prod ? RemovalPolicy.SNAPSHOT : RemovalPolicy.DESTROY,
      cloudwatchLogsExports: ['postgresql'],
    };
    const { endpoint, secret, resource } = settings.database === 'aurora' ? this.aurora(common, settings) : this.instance(common, settings);
    this.resource = resource;
    this.master = { secret, target: resource };
    // RDS writes its logs to a group named after the instance or cluster; created here with a retention
    // instead of by the LogRetention custom resource (a Lambda) that cloudwatchLogsRetention adds.
    const logGroup = new logs.LogGroup(this, 'PostgresqlLogs', {
      logGroupName: `/aws/rds/${settings.database === 'aurora' ? 'cluster' : 'instance'}/${this.identifier(settings)}/postgresql`,
      retention: settings.logRetentionDays as logs.RetentionDays,
      removalPolicy: prod ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    resource.node.addDependency(logGroup);
    acknowledge(
      this,
      'AwsSolutions-SMG4',
      'not rotated automatically: DATABASE_URL is assembled from the master secret at deploy time, so a rotation must rewrite both (a later rotation Lambda); rotate by redeploying with a new secret',
    );
    acknowledge(resource, 'AwsSolutions-RDS11', 'the default port is not a control here: the security group admits only the application');
    this.cpu = resource.metricCPUUtilization({ period: Duration.minutes(5) });
    this.connections = resource.metricDatabaseConnections({ period: Duration.minutes(5) });
    this.databaseUrl = this.urlSecret(secret, endpoint);
  }

  /** Named, so its log group can be created beforehand. */
  private identifier(settings: DeploySettings): string {
    return `saga-${settings.envName}`;
  }

  private instance(common: CommonProps, settings: DeploySettings) {
    const prod = settings.envName === 'prod';
    const db = new rds.DatabaseInstance(this, 'Instance', {
      ...common,
      instanceIdentifier: this.identifier(settings),
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17 }),
      instanceType: new ec2.InstanceType(settings.dbInstanceClass),
      databaseName: DATABASE_NAME,
      multiAz: prod,
      allocatedStorage: 20,
      maxAllocatedStorage: 100,
      storageType: rds.StorageType.GP3,
      backupRetention: Duration.days(prod ? 14 : 1),
      enablePerformanceInsights: true,
    });
    if (!prod)
      Validations.of(db).acknowledge({
        id: 'AwsSolutions-RDS3',
        reason: 'dev runs one instance: Multi-AZ doubles the cost for an environment that may go down',
      });
    if (!prod)
      Validations.of(db).acknowledge({
        id: 'AwsSolutions-RDS10',
        reason: 'dev is disposable: deletion protection is on in prod (context env=prod)',
      });
    return { endpoint: db.instanceEndpoint, secret: db.secret!, resource: db };
  }

  private aurora(common: CommonProps, settings: DeploySettings) {
    const prod = settings.envName === 'prod';
    const cluster = new rds.DatabaseCluster(this, 'Cluster', {
      ...common,
      clusterIdentifier: this.identifier(settings),
      engine: rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_17_9 }),
      defaultDatabaseName: DATABASE_NAME,
      serverlessV2MinCapacity: settings.auroraMinAcu,
      serverlessV2MaxCapacity: settings.auroraMaxAcu,
      writer: rds.ClusterInstance.serverlessV2('writer', { enablePerformanceInsights: true }),
      readers: prod ? [rds.ClusterInstance.serverlessV2('reader', { scaleWithWriter: true, enablePerformanceInsights: true })] : [],
      backup: { retention: Duration.days(prod ? 14 : 1) },
    });
    acknowledge(
      cluster,
      'AwsSolutions-RDS6',
      'the application authenticates with the password in Secrets Manager; IAM tokens expire every 15 minutes and its pools take a fixed DATABASE_URL',
    );
    return { endpoint: cluster.clusterEndpoint, secret: cluster.secret!, resource: cluster };
  }

  /**
   * RDS Proxy for the use-case tasks' connections (ADR 34): it multiplexes their transactions onto
   * at most `maxConnectionsPercent` of the database's connections, so the number of tasks no longer
   * has to fit max_connections. Reachable only from the tasks' security group, TLS required, the
   * master credentials from Secrets Manager. Returns the tasks' DATABASE_URL (the proxy's endpoint).
   */
  addTaskProxy(network: Network, maxConnectionsPercent: number): secretsmanager.Secret {
    const proxySg = new ec2.SecurityGroup(this, 'TaskProxySg', {
      vpc: network.vpc,
      description: 'RDS Proxy of the use-case tasks: only the tasks may connect; it reaches PostgreSQL',
      allowAllOutbound: false,
    });
    proxySg.addIngressRule(network.tasksSg, ec2.Port.tcp(5432), 'PostgreSQL from the use-case tasks');
    network.tasksSg.addEgressRule(proxySg, ec2.Port.tcp(5432), 'PostgreSQL through the proxy');
    proxySg.addEgressRule(network.databaseSg, ec2.Port.tcp(5432), 'PostgreSQL');
    network.databaseSg.addIngressRule(proxySg, ec2.Port.tcp(5432), 'PostgreSQL from the tasks proxy');
    const target = this.master.target;
    const proxy = new rds.DatabaseProxy(this, 'TaskProxy', {
      proxyTarget: target instanceof rds.DatabaseCluster ? rds.ProxyTarget.fromCluster(target) : rds.ProxyTarget.fromInstance(target),
      secrets: [this.master.secret],
      vpc: network.vpc,
      vpcSubnets: network.dataSubnets,
      securityGroups: [proxySg],
      requireTLS: true,
      maxConnectionsPercent,
      // A task's transactions are short; a client idle this long (a task waiting for work) is dropped and reconnects.
      idleClientTimeout: Duration.minutes(10),
      debugLogging: false,
    });
    return this.urlSecret(
      this.master.secret,
      { hostname: proxy.endpoint, port: 5432 },
      'TaskDatabaseUrl',
      'the use-case tasks, through RDS Proxy',
    );
  }

  private urlSecret(
    master: secretsmanager.ISecret,
    endpoint: { readonly hostname: string; readonly port: number },
    id = 'DatabaseUrl',
    whose = 'the saga system',
  ): secretsmanager.Secret {
    const field = (key: string) => master.secretValueFromJson(key).unsafeUnwrap();
    // RDS requires TLS (rds.force_ssl); the certificate and the host name are verified against the RDS CA bundle the image trusts.
    const url = Fn.join('', [
      'postgres://',
      field('username'),
      ':',
      field('password'),
      '@',
      endpoint.hostname,
      ':',
      Token.asString(endpoint.port),
      `/${DATABASE_NAME}?sslmode=verify-full`,
    ]);
    const secret = new secretsmanager.Secret(this, id, {
      description: `DATABASE_URL of ${whose} (assembled from the master secret at deploy time)`,
      secretStringValue: SecretValue.unsafePlainText(url),
    });
    return secret;
  }
}
