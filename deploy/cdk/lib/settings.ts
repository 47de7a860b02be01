import type { Node } from 'constructs';

/** A context value the app refuses (missing or invalid): `cdk synth` says it in one line, without a stack trace (bin/app.ts). */
export class ContextError extends Error {
  override readonly name = 'ContextError';
}

/**
 * The deployment's choices, read from CDK context (`cdk.json`, `-c key=value`): everything that
 * differs between environments is here, so the stack code has no `if (prod)` scattered through it.
 */
export type EnvName = 'dev' | 'prod';
export type EventBus = 'ecs' | 'bullmq';
export type SagaStyle = 'choreography' | 'orchestration';
export type DatabaseKind = 'rds' | 'aurora';
/** How tasks in private subnets reach ECR, Logs, Secrets Manager and the ECS API. */
export type Egress = 'endpoints' | 'nat' | 'none';

export interface ImportedVpc {
  readonly vpcId: string;
  readonly vpcCidr: string;
  readonly availabilityZones: readonly string[];
  readonly privateSubnetIds: readonly string[];
  readonly publicSubnetIds: readonly string[];
  /** Needed only to add the S3 gateway endpoint (`egress=endpoints`) to an imported VPC. */
  readonly privateRouteTableIds: readonly string[];
}

export interface DeploySettings {
  readonly envName: EnvName;
  readonly account?: string;
  readonly region: string;
  readonly availabilityZones: readonly string[];
  readonly eventBus: EventBus;
  readonly sagaStyle: SagaStyle;
  readonly database: DatabaseKind;
  /** e.g. `t4g.small` (RDS); ignored for Aurora. */
  readonly dbInstanceClass: string;
  /** Aurora Serverless v2 capacity range, in ACUs. */
  readonly auroraMinAcu: number;
  readonly auroraMaxAcu: number;
  readonly egress: Egress;
  /** Every task's CPU architecture (context `cpuArchitecture`); unset: what the generated definitions declare (X86_64). */
  readonly cpuArchitecture?: 'X86_64' | 'ARM64';
  readonly importedVpc?: ImportedVpc;
  /** An ACM certificate: the ALB then listens on HTTPS 443 (and redirects 80). */
  readonly certificateArn?: string;
  readonly apiCpu: number;
  readonly apiMemoryMiB: number;
  readonly apiMinTasks: number;
  readonly apiMaxTasks: number;
  /** Always-on `worker.js` processes (EVENT_BUS=bullmq only). */
  readonly workerTasks: number;
  readonly dbPoolSize: number;
  readonly taskConcurrency: number;
  /**
   * The use-case tasks' connections through RDS Proxy (EVENT_BUS=ecs): `on`, `off`, or `auto` (the
   * default: on when the database cannot give every active use case a task of its own directly).
   */
  readonly taskProxy: 'auto' | 'on' | 'off';
  /** Prefix of the task definition families (ECS_TASK_DEFINITION_PREFIX), so environments sharing an account do not share families. */
  readonly familyPrefix: string;
  readonly logRetentionDays: number;
  readonly alarmEmail?: string;
  /** The API's OpenID Connect provider (AUTH_ISSUER, AUTH_AUDIENCE, AUTH_JWKS_URL; docs/security.md). */
  readonly auth: { readonly issuer: string; readonly audience: string; readonly jwksUrl: string };
  /** OpenTelemetry tracing (`otelEndpoint`, `otelSampleRatio`); undefined: no process traces. */
  readonly tracing?: TracingSettings;
  /** Operators sign in to the console with the API's provider (`consoleClientId`...); undefined: bearer tokens only. */
  readonly consoleSignIn?: ConsoleSignInSettings;
}

export interface ConsoleSignInSettings {
  /** CONSOLE_OIDC_CLIENT_ID: the console's client at the provider. */
  readonly clientId: string;
  /** A Secrets Manager secret (ARN) holding the client's secret; unset: a public client (PKCE alone). */
  readonly clientSecretArn?: string;
  /** CONSOLE_OIDC_AUTHORIZATION_PARAMS, e.g. `audience=saga-api`. */
  readonly authorizationParams?: string;
  /** CONSOLE_PUBLIC_URL: the https origin browsers reach the API at (the certificate's name). */
  readonly publicUrl: string;
}

export interface TracingSettings {
  /** OTEL_EXPORTER_OTLP_ENDPOINT: an OTLP/HTTP receiver (an ADOT collector, Jaeger...); spans go to `<endpoint>/v1/traces`. */
  readonly endpoint: string;
  /** The endpoint's host and TCP port, which the application's security groups must be able to reach. */
  readonly host: string;
  readonly port: number;
  /** The share of new traces kept, in (0, 1]; a trace continued from a caller follows the caller's decision. */
  readonly sampleRatio: number;
}

type Raw = (key: string) => unknown;

function str(raw: Raw, key: string, fallback: string): string {
  const value = raw(key);
  return value === undefined || value === '' ? fallback : String(value);
}

function optional(raw: Raw, key: string): string | undefined {
  const value = raw(key);
  return value === undefined || value === '' ? undefined : String(value);
}

function num(raw: Raw, key: string, fallback: number): number {
  const value = Number(str(raw, key, String(fallback)));
  if (!Number.isFinite(value) || value < 0) throw new ContextError(`context ${key}: "${String(raw(key))}" is not a non-negative number`);
  return value;
}

function oneOf<T extends string>(raw: Raw, key: string, allowed: readonly T[], fallback: T): T {
  const value = str(raw, key, fallback);
  if (!(allowed as readonly string[]).includes(value))
    throw new ContextError(`context ${key}: "${value}" is not one of ${allowed.join(', ')}`);
  return value as T;
}

function list(raw: Raw, key: string): string[] {
  const value = raw(key);
  if (value === undefined || value === '') return [];
  return Array.isArray(value)
    ? value.map(String)
    : String(value)
        .split(',')
        .map((s) => s.trim());
}

function importedVpc(raw: Raw): ImportedVpc | undefined {
  const vpcId = optional(raw, 'vpcId');
  if (vpcId === undefined) return undefined;
  const vpc = {
    vpcId,
    vpcCidr: str(raw, 'vpcCidr', ''),
    availabilityZones: list(raw, 'availabilityZones'),
    privateSubnetIds: list(raw, 'privateSubnetIds'),
    publicSubnetIds: list(raw, 'publicSubnetIds'),
  };
  const routeTables = list(raw, 'privateRouteTableIds');
  const missing = Object.entries(vpc).filter(([, v]) => v === '' || (Array.isArray(v) && v.length === 0));
  if (missing.length > 0) throw new ContextError(`an imported VPC (vpcId) also needs context ${missing.map(([k]) => k).join(', ')}`);
  // The API's TRUST_PROXY: the ALB's addresses are in it.
  if (!/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/.test(vpc.vpcCidr))
    throw new ContextError(`context vpcCidr: "${vpc.vpcCidr}" is not an IPv4 CIDR such as 10.20.0.0/16`);
  if (vpc.privateSubnetIds.length !== vpc.availabilityZones.length || vpc.publicSubnetIds.length !== vpc.availabilityZones.length)
    throw new ContextError('an imported VPC needs one private and one public subnet per availability zone, in the same order');
  return { ...vpc, privateRouteTableIds: routeTables };
}

/** Reads and validates the context; the environment name sets the defaults. */
export function settingsFrom(raw: Raw): DeploySettings {
  const envName = oneOf<EnvName>(raw, 'env', ['dev', 'prod'], 'dev');
  const prod = envName === 'prod';
  const region = str(raw, 'region', 'us-east-1');
  const imported = importedVpc(raw);
  const account = optional(raw, 'account');
  const alarmEmail = optional(raw, 'alarmEmail');
  const certificateArn = optional(raw, 'certificateArn');
  const auth = authOf(raw);
  const tracing = tracingOf(raw);
  const consoleSignIn = consoleSignInOf(raw, certificateArn);
  return {
    envName,
    ...(account ? { account } : {}),
    region,
    availabilityZones:
      imported?.availabilityZones ??
      (list(raw, 'availabilityZones').length > 0 ? list(raw, 'availabilityZones') : [`${region}a`, `${region}b`]),
    eventBus: oneOf<EventBus>(raw, 'eventBus', ['ecs', 'bullmq'], 'ecs'),
    sagaStyle: oneOf<SagaStyle>(raw, 'sagaStyle', ['choreography', 'orchestration'], 'choreography'),
    database: oneOf<DatabaseKind>(raw, 'database', ['rds', 'aurora'], 'rds'),
    dbInstanceClass: str(raw, 'dbInstanceClass', prod ? 't4g.small' : 't4g.micro'),
    auroraMinAcu: num(raw, 'auroraMinAcu', prod ? 0.5 : 0),
    auroraMaxAcu: num(raw, 'auroraMaxAcu', prod ? 4 : 1),
    egress: oneOf<Egress>(raw, 'egress', ['endpoints', 'nat', 'none'], imported ? 'none' : prod ? 'endpoints' : 'nat'),
    ...(imported ? { importedVpc: imported } : {}),
    ...(optional(raw, 'cpuArchitecture') !== undefined
      ? { cpuArchitecture: oneOf<'X86_64' | 'ARM64'>(raw, 'cpuArchitecture', ['X86_64', 'ARM64'], 'X86_64') }
      : {}),
    ...(certificateArn ? { certificateArn } : {}),
    apiCpu: num(raw, 'apiCpu', prod ? 512 : 256),
    apiMemoryMiB: num(raw, 'apiMemoryMiB', prod ? 1024 : 512),
    apiMinTasks: num(raw, 'apiMinTasks', prod ? 2 : 1),
    apiMaxTasks: num(raw, 'apiMaxTasks', prod ? 3 : 2),
    workerTasks: num(raw, 'workerTasks', 2),
    dbPoolSize: num(raw, 'dbPoolSize', prod ? 10 : 3),
    taskConcurrency: num(raw, 'taskConcurrency', 4),
    taskProxy: oneOf<'auto' | 'on' | 'off'>(raw, 'taskProxy', ['auto', 'on', 'off'], 'auto'),
    familyPrefix: str(raw, 'familyPrefix', prod ? '' : `${envName}-`),
    logRetentionDays: num(raw, 'logRetentionDays', prod ? 90 : 14),
    ...(alarmEmail ? { alarmEmail } : {}),
    auth,
    ...(tracing ? { tracing } : {}),
    ...(consoleSignIn ? { consoleSignIn } : {}),
  };
}

/**
 * `consoleClientId` turns the console's sign-in on. Its session cookie is Secure: the ALB must
 * serve HTTPS (`certificateArn`) at `publicUrl`, the origin the provider redirects back to.
 */
function consoleSignInOf(raw: Raw, certificateArn: string | undefined): ConsoleSignInSettings | undefined {
  const clientId = optional(raw, 'consoleClientId');
  if (clientId === undefined) return undefined;
  const publicUrl = optional(raw, 'publicUrl');
  if (
    publicUrl === undefined ||
    !URL.canParse(publicUrl) ||
    new URL(publicUrl).protocol !== 'https:' ||
    new URL(publicUrl).origin !== publicUrl
  )
    throw new ContextError(
      `context publicUrl: "${publicUrl ?? ''}" is not an https origin (https://console.example.com); consoleClientId needs it`,
    );
  if (certificateArn === undefined)
    throw new ContextError('context certificateArn: consoleClientId needs HTTPS at the ALB (the session cookie is Secure)');
  const clientSecretArn = optional(raw, 'consoleClientSecretArn');
  const authorizationParams = optional(raw, 'consoleAuthorizationParams');
  return { clientId, publicUrl, ...(clientSecretArn ? { clientSecretArn } : {}), ...(authorizationParams ? { authorizationParams } : {}) };
}

/**
 * `otelEndpoint` (an http(s) URL, the OTLP/HTTP base the SDK appends `/v1/traces` to) and
 * `otelSampleRatio` (default 1). The endpoint lands in every task definition's plain environment,
 * so it may not carry credentials; the ratio is checked even without an endpoint, so a typo in
 * cdk.json is caught before the day tracing is turned on.
 */
function tracingOf(raw: Raw): TracingSettings | undefined {
  const rawRatio = optional(raw, 'otelSampleRatio');
  const sampleRatio = rawRatio === undefined ? 1 : Number(rawRatio);
  if (!(sampleRatio > 0 && sampleRatio <= 1))
    throw new ContextError(`context otelSampleRatio: "${rawRatio}" is not a ratio in (0, 1] (the share of new traces kept; 1 keeps all)`);
  const endpoint = optional(raw, 'otelEndpoint')?.trim();
  if (!endpoint) return undefined;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new ContextError(`context otelEndpoint: "${endpoint}" is not a URL (e.g. http://otel-collector.internal:4318)`);
  }
  // Shown without credentials, query or fragment, which may hold a key: the message lands in terminals and CI logs.
  const refuse = (why: string) => new ContextError(`context otelEndpoint: "${url.protocol}//${url.host}${url.pathname}" ${why}`);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw refuse('is not an http(s) URL: traces are exported as OTLP/HTTP');
  if (url.username || url.password)
    throw refuse('carries credentials, which would be in the task definitions in plain text: put OTLP headers in a secret');
  if (url.search || url.hash) throw refuse('has a query or a fragment: give the base URL, the SDK appends /v1/traces');
  if (/\/v1\/traces\/?$/.test(url.pathname)) throw refuse('ends in /v1/traces: give the base URL, the SDK appends /v1/traces');
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  return { endpoint, host: url.hostname, port, sampleRatio };
}

/**
 * The API's token issuer. The image runs NODE_ENV=production, where the API exits 78 without one,
 * and a dev stack's load balancer is on the internet too: every environment needs it, so the app
 * refuses to synthesize without it rather than deploy an API that cannot start.
 */
function authOf(raw: Raw): NonNullable<DeploySettings['auth']> {
  const issuer = optional(raw, 'authIssuer');
  const audience = optional(raw, 'authAudience');
  const jwksUrl = optional(raw, 'authJwksUrl');
  if (issuer && audience && jwksUrl) return { issuer, audience, jwksUrl };
  throw new ContextError(
    'context authIssuer, authAudience and authJwksUrl: the API verifies tokens of this provider and refuses to start without it',
  );
}

/** The settings of a construct tree's context. */
export function settingsOf(node: Node): DeploySettings {
  return settingsFrom((key) => node.tryGetContext(key));
}
