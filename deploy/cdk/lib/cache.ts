import { Fn, SecretValue, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { Network } from './network.js';
import type { DeploySettings } from './settings.js';

/**
 * BullMQ's Redis (EVENT_BUS=bullmq only): ElastiCache Redis OSS with TLS in transit, encryption at
 * rest and an AUTH token from Secrets Manager; REDIS_URL (`rediss://`) is a secret assembled by
 * dynamic reference like DATABASE_URL. Reachable only from the application's security groups.
 */
export class Cache extends Construct {
  readonly redisUrl: secretsmanager.Secret;

  constructor(scope: Construct, id: string, network: Network, settings: DeploySettings) {
    super(scope, id);
    const prod = settings.envName === 'prod';
    const sg = new ec2.SecurityGroup(this, 'Sg', {
      vpc: network.vpc,
      description: 'Redis: only the API and the workers may connect',
      allowAllOutbound: false,
    });
    for (const app of [network.apiSg, network.tasksSg]) {
      sg.addIngressRule(app, ec2.Port.tcp(6379), 'Redis from the application');
      app.addEgressRule(sg, ec2.Port.tcp(6379), 'Redis');
    }
    const subnets = new elasticache.CfnSubnetGroup(this, 'Subnets', {
      description: 'saga Redis',
      subnetIds: network.vpc.selectSubnets(network.dataSubnets).subnetIds,
    });
    const token = new secretsmanager.Secret(this, 'AuthToken', {
      description: 'AUTH token of the saga Redis',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
    });
    const group = new elasticache.CfnReplicationGroup(this, 'Redis', {
      replicationGroupDescription: 'BullMQ queues of the saga system',
      engine: 'redis',
      cacheNodeType: 'cache.t4g.micro',
      numCacheClusters: prod ? 2 : 1,
      automaticFailoverEnabled: prod,
      multiAzEnabled: prod,
      transitEncryptionEnabled: true,
      atRestEncryptionEnabled: true,
      authToken: token.secretValue.unsafeUnwrap(),
      cacheSubnetGroupName: subnets.ref,
      securityGroupIds: [sg.securityGroupId],
      snapshotRetentionLimit: prod ? 7 : 0,
    });
    this.redisUrl = new secretsmanager.Secret(this, 'RedisUrl', {
      description: 'REDIS_URL of the saga system (assembled at deploy time)',
      secretStringValue: SecretValue.unsafePlainText(
        Fn.join('', [
          'rediss://:',
          token.secretValue.unsafeUnwrap(),
          '@',
          group.attrPrimaryEndPointAddress,
          ':',
          group.attrPrimaryEndPointPort,
        ]),
      ),
    });
    this.acknowledge(group, token, prod);
  }

  private acknowledge(group: elasticache.CfnReplicationGroup, token: secretsmanager.Secret, prod: boolean): void {
    Validations.of(group).acknowledge({
      id: 'AwsSolutions-AEC5',
      reason: 'the default port is not a control here: the security group admits only the application',
    });
    if (!prod)
      Validations.of(group).acknowledge({
        id: 'AwsSolutions-AEC4',
        reason: 'dev runs one node: BullMQ state is rebuilt from PostgreSQL by the sweeper',
      });
    for (const s of [token, this.redisUrl])
      Validations.of(s).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'ElastiCache AUTH rotation needs a coordinated token update (ModifyReplicationGroup); rotate by redeploying with a new secret',
      });
  }
}
