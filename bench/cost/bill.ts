/**
 * The lines of the bill beside Fargate compute that differ between the three deployments of
 * docs/cost.md: moving the image to every task start (NAT gateway or VPC endpoints), CloudWatch
 * Logs ingestion, Container Insights; and the compute rate itself by CPU architecture and capacity
 * provider (ARM64/Graviton, Fargate Spot). Pure arithmetic on what the simulation counted.
 */

/** How tasks in private subnets reach ECR and S3 (deploy/cdk `egress`, plus the S3 gateway endpoint the app always adds). */
export type Egress = 'nat' | 'nat-s3-gateway' | 'endpoints';
export type Architecture = 'x86_64' | 'arm64';

export interface BillPrices {
  readonly arm64VcpuHourUsd: number;
  readonly arm64GbHourUsd: number;
  readonly arm64Source: string;
  /** Fargate Spot's price as a share of on demand: it moves with spare capacity; AWS advertises "up to 70 % off". */
  readonly spotShareOfOnDemand: number;
  readonly spotSource: string;
  readonly natGbUsd: number;
  readonly natHourUsd: number;
  readonly natSource: string;
  readonly interfaceEndpointHourUsd: number;
  readonly interfaceEndpointGbUsd: number;
  readonly endpointSource: string;
  readonly logsIngestGbUsd: number;
  readonly metricMonthUsd: number;
  readonly cloudWatchSource: string;
}

export const BILL_PRICES: BillPrices = {
  arm64VcpuHourUsd: 0.03238,
  arm64GbHourUsd: 0.00356,
  arm64Source:
    'Fargate Linux/ARM64 on demand, us-east-1, AWS Fargate pricing page (https://aws.amazon.com/fargate/pricing/), checked 2026-12',
  spotShareOfOnDemand: 0.3,
  spotSource:
    'Fargate Spot, x86_64 only: AWS advertises up to 70 % off on demand (https://aws.amazon.com/fargate/pricing/); the Spot price varies, so this is the best case',
  natGbUsd: 0.045,
  natHourUsd: 0.045,
  natSource: 'NAT gateway, us-east-1: $0.045 per hour and per GB processed (https://aws.amazon.com/vpc/pricing/), checked 2026-12',
  interfaceEndpointHourUsd: 0.01,
  interfaceEndpointGbUsd: 0.01,
  endpointSource:
    'AWS PrivateLink interface endpoint, us-east-1: $0.01 per hour per Availability Zone and $0.01 per GB processed; S3 gateway endpoints are free (https://aws.amazon.com/privatelink/pricing/), checked 2026-12',
  logsIngestGbUsd: 0.5,
  metricMonthUsd: 0.3,
  cloudWatchSource:
    'CloudWatch, us-east-1: Logs ingestion $0.50 per GB, custom metrics $0.30 per metric-month for the first 10,000 (Container Insights bills its metrics and performance events this way) (https://aws.amazon.com/cloudwatch/pricing/), checked 2026-12',
};

export interface BillParameters {
  readonly architecture: Architecture;
  /** Use cases other than compensations launched on Fargate Spot (x86_64 only); compensations and the sweeper stay on demand. */
  readonly spot: boolean;
  readonly egress: Egress;
  /** The use-case tasks' image (the Dockerfile's `task` stage), compressed: what Fargate pulls at every task start (it caches no image). */
  readonly imageCompressedMb: number;
  /** The runtime stage's image, compressed: what the sweeper, the API and the workers pull. */
  readonly runtimeImageCompressedMb: number;
  /** Releases a month: every always-on task is replaced (and pulls the image) at each. */
  readonly deploysPerMonth: number;
  /** Interface endpoints of `egress=endpoints` (deploy/cdk/lib/network.ts) and the zones they are in. */
  readonly interfaceEndpoints: number;
  readonly availabilityZones: number;
  /** What a task writes to CloudWatch Logs over its life, outside its deliveries (start, settings, idle exit). */
  readonly logBytesPerTaskStart: number;
  /** What a delivery adds to the logs at the default level. */
  readonly logBytesPerDelivery: number;
  readonly containerInsights: boolean;
  /** Container Insights metrics per task definition family or service (CPU, memory, network, storage, task counts). */
  readonly insightsMetricsPerFamily: number;
  /** Container Insights' performance log events, per task-minute. */
  readonly insightsBytesPerTaskMinute: number;
}

export const BILL_PARAMETER_REASONS: Readonly<Record<keyof BillParameters, string>> = {
  architecture:
    'the task definitions’ cpuArchitecture (deploy/cdk context `cpuArchitecture`, X86_64 unless set); ARM64 (Graviton) costs about 20 % less',
  spot: 'the CDK app’s capacity-provider strategy: Spot for the use cases that are not compensations when `spot=true` (x86_64 only), on demand otherwise',
  egress:
    'the CDK app always adds the free S3 gateway endpoint, through which ECR serves image layers; `nat` alone (no gateway endpoint) is what the dev default cost before it',
  imageCompressedMb:
    'the task stage: the node:22-bookworm-slim base (an estimate, about 75 MB compressed) plus its application layer as the image stand-in measures it (8.0 MB, test/e2e/image-standin.test.ts)',
  runtimeImageCompressedMb:
    'the runtime stage: the same base plus its application layer with the production node_modules (27.5 MB, the same test)',
  deploysPerMonth: 'a release a day: each replaces the always-on tasks, which pull the image again',
  interfaceEndpoints:
    'egress=endpoints creates ECR API, ECR Docker, Logs, Secrets Manager and ECS interface endpoints (deploy/cdk/lib/network.ts)',
  availabilityZones: 'the CDK app’s two zones: an interface endpoint is billed per zone',
  logBytesPerTaskStart:
    'a use-case task’s own log lines at the default level (start, settings, lease, idle exit), JSON via pino, measured on the local endpoint',
  logBytesPerDelivery: 'the default level logs no line per delivery (debug does)',
  containerInsights: 'the CDK app enables Container Insights on the cluster (deploy/cdk/lib/compute.ts)',
  insightsMetricsPerFamily:
    'Container Insights publishes CPU and memory utilised and reserved, network rx/tx, storage read/write and task counts per task definition family and per service; billed per metric-hour reported, so a family whose tasks run rarely costs less than this (an upper bound)',
  insightsBytesPerTaskMinute: 'one performance log event per task per minute, about 1 KB of JSON',
};

export const DEFAULT_BILL_PARAMETERS: BillParameters = {
  architecture: 'x86_64',
  spot: false,
  egress: 'nat-s3-gateway',
  imageCompressedMb: 83,
  runtimeImageCompressedMb: 103,
  deploysPerMonth: 30,
  interfaceEndpoints: 5,
  availabilityZones: 2,
  logBytesPerTaskStart: 2_000,
  logBytesPerDelivery: 0,
  containerInsights: true,
  insightsMetricsPerFamily: 8,
  insightsBytesPerTaskMinute: 1_000,
};

/** What one deployment's consumers did in a month, as the simulation counted it. */
export interface MonthActivity {
  /** Task starts: each pulls the whole image. */
  readonly taskStarts: number;
  /** Of them, the starts of processes on the runtime stage's image (the sweeper, the workers); the rest run the task stage. */
  readonly runtimeImageStarts: number;
  /** Σ task lifetimes, minutes. */
  readonly taskMinutes: number;
  readonly deliveries: number;
  /** Task definition families and ECS services with tasks: Container Insights publishes a set of metrics for each. */
  readonly families: number;
}

export interface OtherLines {
  /** Image bytes through the NAT gateway or the interface endpoints; 0 through the S3 gateway endpoint. */
  readonly networkUsd: number;
  readonly pulledGb: number;
  readonly logsUsd: number;
  readonly insightsUsd: number;
  readonly totalUsd: number;
}

const GB = 1024 ** 3;

/** The data-processing price of moving the image layers to a task, per GB. */
export function pullUsdPerGb(egress: Egress, prices: BillPrices): number {
  // ECR serves layers from S3: with the S3 gateway endpoint they bypass the NAT gateway and the
  // interface endpoints (which then carry only the manifests and API calls, kilobytes per pull).
  if (egress === 'nat') return prices.natGbUsd;
  return 0;
}

export function otherLines(activity: MonthActivity, p: BillParameters, prices: BillPrices): OtherLines {
  const pulledMb =
    (activity.taskStarts - activity.runtimeImageStarts) * p.imageCompressedMb + activity.runtimeImageStarts * p.runtimeImageCompressedMb;
  const pulledGb = (pulledMb * 1024 ** 2) / GB;
  const networkUsd = pulledGb * pullUsdPerGb(p.egress, prices);
  const logBytes = activity.taskStarts * p.logBytesPerTaskStart + activity.deliveries * p.logBytesPerDelivery;
  const insightsBytes = p.containerInsights ? activity.taskMinutes * p.insightsBytesPerTaskMinute : 0;
  const logsUsd = (logBytes / GB) * prices.logsIngestGbUsd;
  const insightsUsd = p.containerInsights
    ? activity.families * p.insightsMetricsPerFamily * prices.metricMonthUsd + (insightsBytes / GB) * prices.logsIngestGbUsd
    : 0;
  return { networkUsd, pulledGb, logsUsd, insightsUsd, totalUsd: networkUsd + logsUsd + insightsUsd };
}

/** The egress every deployment pays whatever runs the use cases: NAT gateways or interface endpoints, by the hour. */
export function fixedEgressUsd(p: BillParameters, prices: BillPrices, hoursPerMonth: number): { monthlyUsd: number; what: string } {
  if (p.egress === 'endpoints') {
    const n = p.interfaceEndpoints * p.availabilityZones;
    return {
      monthlyUsd: n * prices.interfaceEndpointHourUsd * hoursPerMonth,
      what: `${p.interfaceEndpoints} interface endpoints × ${p.availabilityZones} zones`,
    };
  }
  return { monthlyUsd: prices.natHourUsd * hoursPerMonth, what: 'one NAT gateway (dev; prod has one per zone)' };
}

/** Fargate's vCPU and GB hourly rates for an architecture and capacity provider. */
export function computeRates(
  onDemandX86: { readonly vcpuHourUsd: number; readonly gbHourUsd: number },
  prices: BillPrices,
  architecture: Architecture,
  spot: boolean,
): { vcpuHourUsd: number; gbHourUsd: number } {
  if (spot && architecture !== 'x86_64') throw new Error('Fargate Spot runs x86_64 tasks only: choose spot or arm64, not both');
  const base = architecture === 'arm64' ? { vcpuHourUsd: prices.arm64VcpuHourUsd, gbHourUsd: prices.arm64GbHourUsd } : { ...onDemandX86 };
  const share = spot ? prices.spotShareOfOnDemand : 1;
  return { vcpuHourUsd: base.vcpuHourUsd * share, gbHourUsd: base.gbHourUsd * share };
}
