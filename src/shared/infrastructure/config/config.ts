// Over 300 lines on purpose: one schema for every setting with its default and the cross-checks that
// refuse combinations, so an operator reads every variable in one place (the schema alone is 240 lines).
import { isIP } from 'node:net';
import { z } from 'zod';
import { SAGA_STYLES } from '../../contract/routing.js';

/**
 * All configuration, read once from the environment and validated. A wrong value stops the
 * process at startup with a message naming the variable, instead of failing later at 3 a.m.
 */
const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max).default(def);
const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');
const list = z
  .string()
  .default('')
  .transform((v) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  );
const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    `must be a URL with protocol ${protocols.join(' or ')}`,
  );

export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * Where the operator console links a trace id: a URL whose `{traceId}` is replaced, e.g.
   * http://localhost:16686/trace/{traceId} (Jaeger). Unset: trace ids are shown unlinked.
   */
  /**
   * Mount bull-board at /admin/queues (EVENT_BUS=bullmq only). Off by default: its queue objects
   * cost about 12 % more CPU per saga at saturation in the bench, a price to pay only while looking.
   */
  ADMIN_QUEUES_UI: bool(false),
  TRACE_UI_URL: url(['http:', 'https:'])
    .refine((v) => v.includes('{traceId}'), 'must contain {traceId}, where the trace id goes')
    .optional(),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: int(3000, 0, 65535),
  /** The worker's HTTP port for GET /metrics and the health probes (on HOST); 0 turns it off. The API serves /metrics on PORT. */
  METRICS_PORT: int(9464, 0, 65535),
  BODY_LIMIT_BYTES: int(16 * 1024, 256, 10 * 1024 * 1024),

  DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),
  REDIS_URL: url(['redis:', 'rediss:']).optional(),
  /** Where the dev tools look for PostgreSQL and Redis before starting embedded ones. */
  PROBE_DATABASE_URL: url(['postgres:', 'postgresql:']).default('postgres://postgres@127.0.0.1:5432/saga_dev'),
  PROBE_REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  EMBEDDED_PG_PORT: int(54329, 1, 65535),
  EMBEDDED_REDIS_PORT: int(63790, 1, 65535),
  DATA_DIR: z.string().min(1).default('.data'),
  /** Connections of a long-lived process (dev server, API, worker, sweeper) to each database, whatever the number of modules in it. */
  DB_POOL_SIZE: int(10, 1, 200),
  /**
   * PostgreSQL connections the whole system may hold: every long-lived process and every running
   * ECS task (docs/deployment.md has the arithmetic). Launches that would exceed it wait.
   */
  DB_CONNECTION_BUDGET: int(80, 4, 100_000),
  /** How many long-lived processes (API replicas, workers, the sweeper) share the budget with the tasks. */
  DB_LONG_LIVED_PROCESSES: int(1, 1, 1_000),
  /**
   * How long a use-case task (in the middle of its backlog) or the sweeper waits for PostgreSQL to
   * come back (a restart, a failover) before it exits 75 (EX_TEMPFAIL). Long-lived processes wait
   * as long as it takes: their readiness says not ready meanwhile.
   */
  DB_OUTAGE_TOLERANCE_MS: int(60_000, 0, 3_600_000),
  /** Named (prepared) statements; false behind PgBouncer in transaction mode before 1.21 (or with max_prepared_statements=0). */
  DB_PREPARED_STATEMENTS: bool(true),
  /**
   * Bearer token for the /admin routes (dead letters, delivery stats). Unset: the routes exist
   * only outside production, without authentication.
   */
  ADMIN_TOKEN: z.string().min(16, 'use at least 16 characters').optional(),

  /**
   * How the API authenticates callers (docs/security.md): `jwt` verifies bearer tokens of an OpenID
   * Connect provider; `off` lets every caller do everything and is refused in production.
   * Default: jwt in production, off elsewhere.
   */
  AUTH_MODE: z.enum(['jwt', 'off']).optional(),
  /** The `iss` every token must carry. */
  AUTH_ISSUER: z.string().min(1).optional(),
  /** The `aud` every token must carry (one of its audiences). */
  AUTH_AUDIENCE: z.string().min(1).optional(),
  /** The provider's JWKS document; keys are cached and fetched again for an unknown `kid`. */
  AUTH_JWKS_URL: url(['https:', 'http:']).optional(),
  /** A PEM public key (SPKI) instead of AUTH_JWKS_URL. */
  AUTH_PUBLIC_KEY: z.string().min(1).optional(),
  /** Leeway for `exp` and `nbf` between this clock and the issuer's. */
  AUTH_CLOCK_TOLERANCE_S: int(30, 0, 300),
  /** A JWKS fetch that has not answered after this fails (the request gets 401, the next one tries again). */
  AUTH_JWKS_TIMEOUT_MS: int(3_000, 100, 30_000),
  /** After a JWKS fetch, a token with an unknown `kid` fetches it again only after this (a flood of made-up kids costs the issuer one fetch per period). */
  AUTH_JWKS_COOLDOWN_MS: int(30_000, 0, 3_600_000),
  /** Verified tokens remembered (until they expire), so a client's repeated token is verified once. 0: none. */
  AUTH_TOKEN_CACHE_SIZE: int(10_000, 0, 1_000_000),

  /**
   * The operator console's OpenID Connect client at AUTH_ISSUER: operators sign in with the
   * authorization code flow and PKCE, and get a server-side session. Unset: the console takes
   * bearer tokens only (an authenticating proxy in front, or ADMIN_TOKEN).
   */
  CONSOLE_OIDC_CLIENT_ID: z.string().min(1).optional(),
  /** The client's secret (client_secret_basic); unset: a public client, PKCE alone. */
  CONSOLE_OIDC_CLIENT_SECRET: z.string().min(1).optional(),
  /** The scopes asked for; `openid` and `admin` among them. */
  CONSOLE_OIDC_SCOPE: z.string().default('openid admin'),
  /**
   * More parameters of the authorization request, as a query string: what the provider needs to
   * issue an access token for AUTH_AUDIENCE (`resource=https://api.example.com`, `audience=saga-api`).
   */
  CONSOLE_OIDC_AUTHORIZATION_PARAMS: z.string().optional(),
  /** Where browsers reach the API, `https://host[:port]`: the provider redirects to `<this>/admin/auth/callback`. */
  CONSOLE_PUBLIC_URL: url(['https:']).optional(),
  /** Signs the session cookie: at least 32 characters; several, comma-separated, to rotate (the first signs). */
  CONSOLE_SESSION_SECRET: z.string().optional(),
  /** How long an operator's session lasts after sign-in (then sign in again). */
  CONSOLE_SESSION_TTL_MS: int(3_600_000, 60_000, 24 * 3_600_000),

  /** Requests per RATE_LIMIT_WINDOW_MS per caller (token subject, else client IP); 0 turns rate limiting off. */
  RATE_LIMIT_MAX: int(600, 0, 1_000_000),
  /** The stricter limit of the routes that start a saga (POST /orders), counted apart; 0: only RATE_LIMIT_MAX. */
  RATE_LIMIT_SAGA_MAX: int(120, 0, 1_000_000),
  RATE_LIMIT_WINDOW_MS: int(60_000, 1_000, 24 * 3_600_000),
  /** The Redis every API process counts in; default REDIS_URL. Without either, each process counts alone. */
  RATE_LIMIT_REDIS_URL: url(['redis:', 'rediss:']).optional(),
  /**
   * Which X-Forwarded-For hops to believe for the client IP: `false` (none), the proxies' addresses
   * or CIDRs (behind an ALB: its subnets or the VPC's CIDR), or a hop count. `true` (every hop, so
   * any client names its own address) is refused in production.
   */
  TRUST_PROXY: z
    .string()
    .default('false')
    .transform((value, ctx) => {
      const parsed = parseTrustProxy(value);
      if (typeof parsed === 'string') {
        ctx.addIssue({ code: 'custom', message: parsed });
        return z.NEVER;
      }
      return parsed;
    }),
  /** A request (headers and body) must arrive within this; a slower client is cut off. */
  HTTP_REQUEST_TIMEOUT_MS: int(30_000, 1_000, 600_000),
  /** The request headers must arrive within this (a slow-headers client is cut off). */
  HTTP_HEADERS_TIMEOUT_MS: int(10_000, 500, 600_000),
  /** An idle keep-alive connection is closed after this; keep it above the load balancer's idle timeout (ALB: 60 s). */
  HTTP_KEEP_ALIVE_TIMEOUT_MS: int(65_000, 1_000, 600_000),
  /** Open connections at most; more are refused at once. */
  HTTP_MAX_CONNECTIONS: int(1_024, 1, 1_000_000),
  /**
   * Open connections from one address at most (its requests in flight, for a client behind a proxy
   * TRUST_PROXY believes; the proxy's own connections are not counted); 0: no per-address bound.
   */
  HTTP_MAX_CONNECTIONS_PER_ADDRESS: int(32, 0, 1_000_000),

  SAGA_STYLE: z.enum(SAGA_STYLES).default('choreography'),
  EVENT_BUS: z.enum(['memory', 'bullmq', 'ecs']).default('bullmq'),
  BULLMQ_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only')
    .default('saga'),
  WORKER_CONCURRENCY: int(8, 1, 256),
  /**
   * Deliveries of one use case handled in one transaction: what one BullMQ job or in-process call
   * carries and what a task claims at a time. 1 means a transaction per delivery.
   */
  DELIVERY_BATCH_SIZE: int(16, 1, 500),

  /**
   * A PENDING order (or an orchestrated saga awaiting a reply) is rejected with TIMEOUT after this.
   * Default 60 s, or 5 min with EVENT_BUS=ecs: a saga may wait for two Fargate cold starts in a row
   * (tens of seconds each), and a launch that failed waits for its backoff.
   */
  ORDER_DEADLINE_MS: z.coerce.number().int().min(100).max(Number.MAX_SAFE_INTEGER).optional(),
  /**
   * Backpressure: POST /orders answers 503 OVERLOADED (with Retry-After) while the oldest due
   * delivery has waited longer than this share of ORDER_DEADLINE_MS; 0 never refuses.
   */
  OVERLOAD_LAG_SHARE: z.coerce.number().min(0).max(1).default(0.5),
  DELIVERY_MAX_ATTEMPTS: int(8, 1, 100),
  RETRY_BASE_MS: int(500, 1),
  RETRY_MAX_MS: int(5 * 60_000, 1),
  /** A pending delivery that was signalled this long ago and is still pending is signalled again. */
  REDELIVERY_AFTER_MS: int(15_000, 100),
  SWEEP_INTERVAL_MS: int(1_000, 10),
  RELAY_POLL_MS: int(1_000, 10),
  /** After a busy relay pass (several rows), the next one waits this long to gather more; 0 never waits. */
  RELAY_LINGER_MS: int(5, 0, 1_000),
  RELAY_BATCH_SIZE: int(200, 1, 10_000),

  RETENTION_DONE_MS: int(24 * 3_600_000, 0),
  RETENTION_DEAD_MS: int(30 * 24 * 3_600_000, 0),
  RETENTION_IDEMPOTENCY_MS: int(24 * 3_600_000, 0),
  CLEANUP_INTERVAL_MS: int(3_600_000, 1_000),

  ECS_CLUSTER: z.string().min(1).default('default'),
  ECS_SUBNETS: list,
  ECS_SECURITY_GROUPS: list,
  ECS_ASSIGN_PUBLIC_IP: bool(false),
  ECS_LAUNCH_TYPE: z.enum(['FARGATE', 'EC2', 'EXTERNAL']).optional(),
  /** e.g. "FARGATE_SPOT:3,FARGATE:1" (weight per capacity provider); overrides ECS_LAUNCH_TYPE. */
  ECS_CAPACITY_PROVIDER_STRATEGY: list,
  ECS_TASK_DEFINITION_PREFIX: z.string().default(''),
  ECS_CONTAINER_NAME: z.string().min(1).default('app'),
  ECS_MAX_TASKS_PER_USE_CASE: int(10, 1, 10),
  /**
   * Tasks of all use cases running at once. Unset: what DB_CONNECTION_BUDGET leaves for tasks
   * once the long-lived processes have their pools, divided by one task's connections.
   */
  ECS_MAX_TASKS: z.coerce.number().int().min(1).max(10_000).optional(),
  /** Pending deliveries per running task above which the relay launches one more task. */
  ECS_SCALE_OUT_BACKLOG: int(500, 1),
  /**
   * `family:revision` pins, comma-separated (e.g. `customer-reserve-credit:7,order-approve-order:3`,
   * families with ECS_TASK_DEFINITION_PREFIX): launches run exactly those revisions. Required for
   * every active use case in production; unset elsewhere, a bare family runs its latest revision.
   */
  ECS_TASK_DEFINITION_REVISIONS: list,
  /** After a failed launch or a task that failed to start, no launch of that use case for this long, doubled per consecutive failure (with jitter). */
  ECS_RETRY_BASE_MS: int(1_000, 1),
  /** The longest such backoff: then one probe launch at a time (the breaker's half-open state). */
  ECS_RETRY_MAX_MS: int(5 * 60_000, 1),
  /** Consecutive start failures (TaskFailedToStart, exit 78, start timeout) after which a use case's pending deliveries are dead-lettered. */
  ECS_START_FAILURES_BEFORE_DEAD_LETTER: int(5, 1, 1_000),
  /** ...and only once they have gone on this long: a bad minute is not a bad deployment (ADR 36). */
  ECS_START_FAILING_BEFORE_DEAD_LETTER_MS: int(5 * 60_000, 0),
  /** The AWS SDK's attempts per ECS call (standard retry mode: throttling, 5xx, timeouts; the clientToken is kept). */
  ECS_SDK_MAX_ATTEMPTS: int(3, 1, 10),
  /** An ECS call that has not answered after this is abandoned (and retried by the SDK): a hung call never stalls a launch for long. */
  ECS_REQUEST_TIMEOUT_MS: int(5_000, 100, 120_000),
  ECS_CONNECT_TIMEOUT_MS: int(3_000, 100, 60_000),
  /**
   * How often the API (a long-lived process) describes the launched tasks still counted and
   * releases the share of one seen stopped (ADR 36): a task killed mid-batch is replaced within
   * this, not after a lease period. DescribeTasks takes 100 tasks a call.
   */
  ECS_OBSERVE_INTERVAL_MS: int(5_000, 250, 60_000),
  /** A launched task holds its use case's lease this long before it must have been seen running (Fargate: tens of seconds, no bound). */
  TASK_START_TIMEOUT_MS: int(3 * 60_000, 1_000),
  /** Default 30 s, or 60 s with EVENT_BUS=ecs. A running task heartbeats every third of it. */
  LEASE_TTL_MS: z.coerce.number().int().min(1_000).max(Number.MAX_SAFE_INTEGER).optional(),
  /**
   * A task exits after this long without due work. Default 2 s, or 45 s with EVENT_BUS=ecs: Fargate
   * bills a task's first minute whatever it does, so waiting most of it for the next message costs
   * nothing and saves a cold start.
   */
  TASK_IDLE_GRACE_MS: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  /**
   * With EVENT_BUS=ecs: the relay's statement NOTIFYs the channel of each use case it delivers to
   * (PostgreSQL sends it on commit), and a running task LISTENs on its own, so an idle task starts
   * on a new delivery at once instead of at its next poll. Turn it off where LISTEN cannot work
   * (behind a transaction-pooling PgBouncer): tasks then only poll. Passed on to launched tasks.
   */
  TASK_WAKE_NOTIFY: bool(true),
  /**
   * How often an idle task looks for due deliveries by itself. With TASK_WAKE_NOTIFY it is the
   * fallback for notifications lost while the listening connection was down (default 500 ms);
   * without it, the only way to notice new work (default 25 ms).
   */
  TASK_IDLE_POLL_MS: z.coerce.number().int().min(1).max(60_000).optional(),
  TASK_MAX_RUNTIME_MS: int(10 * 60_000, 1_000),
  /**
   * Claimers in one use-case task. Its pool holds one connection more (relay, lease heartbeat,
   * launches); with the LISTEN connection, a task holds at most TASK_CONCURRENCY + 2.
   */
  TASK_CONCURRENCY: int(4, 1, 64),
  TASK_BATCH_SIZE: int(50, 1, 1_000),
});

/** Defaults that depend on the transport: ECS tasks start in tens of seconds and bill by the minute. */
const withTransportDefaults = configSchema.transform((c) => {
  const ecs = c.EVENT_BUS === 'ecs';
  return {
    ...c,
    /** `<MODULE>_DATABASE_URL` variables, by their `<MODULE>` part (filled in by loadConfig; see databaseUrlOf). */
    MODULE_DATABASE_URLS: new Map<string, string>() as ReadonlyMap<string, string>,
    ORDER_DEADLINE_MS: c.ORDER_DEADLINE_MS ?? (ecs ? 5 * 60_000 : 60_000),
    LEASE_TTL_MS: c.LEASE_TTL_MS ?? (ecs ? 60_000 : 30_000),
    TASK_IDLE_GRACE_MS: c.TASK_IDLE_GRACE_MS ?? (ecs ? 45_000 : 2_000),
  };
});

export type Config = z.output<typeof withTransportDefaults>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // An empty variable means "not set", as in most shells' `FOO= cmd`.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = withTransportDefaults.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  }
  const modules = moduleDatabaseUrls(cleaned);
  const problems = [
    ...modules.problems,
    ...productionEcsProblems(parsed.data, cleaned),
    ...httpProblems(parsed.data),
    ...productionHttpProblems(parsed.data),
    ...consoleSignInProblems(parsed.data),
  ];
  if (problems.length > 0) throw new ConfigError(problems);
  return { ...parsed.data, MODULE_DATABASE_URLS: modules.urls };
}

/** Variables that end in `_DATABASE_URL` and name no module's database. */
const NOT_A_MODULE = new Set(['DATABASE_URL', 'PROBE_DATABASE_URL']);

/**
 * `<MODULE>_DATABASE_URL` (e.g. `ORDER_DATABASE_URL`): the database a module's schema, outbox,
 * inbox, leases and saga state live in, when not `DATABASE_URL`'s (ADR 32). The module names are
 * the composition's: it refuses a variable that names no module (see databaseUrlOf).
 */
function moduleDatabaseUrls(env: Record<string, string | undefined>): { urls: Map<string, string>; problems: string[] } {
  const urls = new Map<string, string>();
  const problems: string[] = [];
  const check = url(['postgres:', 'postgresql:']);
  for (const [name, value] of Object.entries(env)) {
    const match = /^([A-Z][A-Z0-9_]*)_DATABASE_URL$/.exec(name);
    if (!match || NOT_A_MODULE.has(name) || value === undefined) continue;
    if (check.safeParse(value).success) urls.set(match[1]!, value);
    else problems.push(`${name}: must be a URL with protocol postgres: or postgresql:`);
  }
  return { urls, problems };
}

/** The `<MODULE>` of a module's `<MODULE>_DATABASE_URL`: its name in upper case, `_` for anything but letters and digits. */
export function moduleDatabaseVariable(module: string): string {
  return `${module.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}_DATABASE_URL`;
}

/**
 * The database of `module`: its `<MODULE>_DATABASE_URL`, else `fallback` (DATABASE_URL). Refuses,
 * as a configuration error, a `<MODULE>_DATABASE_URL` that names none of `modules` (a typo would
 * otherwise put a module's data in the default database without a word).
 */
export function databaseUrlOf(config: Config, module: string, fallback: string, modules: readonly string[]): string {
  const known = new Set(modules.map(moduleDatabaseVariable));
  const unknown = [...config.MODULE_DATABASE_URLS.keys()].map((m) => `${m}_DATABASE_URL`).filter((v) => !known.has(v));
  if (unknown.length > 0) {
    throw new ConfigError(unknown.map((v) => `${v}: no module of this system is called so (modules: ${modules.join(', ')})`));
  }
  return config.MODULE_DATABASE_URLS.get(moduleDatabaseVariable(module).replace(/_DATABASE_URL$/, '')) ?? fallback;
}

/**
 * What ECS refuses or silently gets wrong, found at startup instead of at the first RunTask:
 * production on ECS needs a named cluster, subnets (every Fargate task is awsvpc) and a launch
 * type or capacity provider strategy.
 */
function productionEcsProblems(config: Config, env: Record<string, string | undefined>): string[] {
  if (config.EVENT_BUS !== 'ecs' || config.NODE_ENV !== 'production') return [];
  const problems: string[] = [];
  if (env['ECS_CLUSTER'] === undefined)
    problems.push('ECS_CLUSTER: required with EVENT_BUS=ecs in production (the cluster the use-case tasks run in)');
  if (config.ECS_SUBNETS.length === 0)
    problems.push('ECS_SUBNETS: required with EVENT_BUS=ecs in production (Fargate tasks need awsvpc subnets)');
  if (config.ECS_LAUNCH_TYPE === undefined && config.ECS_CAPACITY_PROVIDER_STRATEGY.length === 0) {
    problems.push('ECS_LAUNCH_TYPE or ECS_CAPACITY_PROVIDER_STRATEGY: one is required with EVENT_BUS=ecs in production');
  }
  for (const entry of config.ECS_CAPACITY_PROVIDER_STRATEGY) {
    if (!/^[A-Za-z0-9_-]+(:\d+(:\d+)?)?$/.test(entry))
      problems.push(`ECS_CAPACITY_PROVIDER_STRATEGY: "${entry}" is not provider[:weight[:base]]`);
  }
  return problems;
}

/** What TRUST_PROXY says about the peers in front of the HTTP server. */
export type TrustProxy =
  | { readonly kind: 'none' }
  /** `true`: every X-Forwarded-For entry is believed, so a client names its own address. */
  | { readonly kind: 'every-hop' }
  /** The last `hops` entries were appended by proxies; the one before them is the client. */
  | { readonly kind: 'hops'; readonly hops: number }
  /** Peers at these addresses (IPs, CIDRs, or proxy-addr's names) are proxies. */
  | { readonly kind: 'addresses'; readonly addresses: readonly string[] };

/** The names proxy-addr (Fastify's) knows for ranges of addresses. */
const ADDRESS_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];
const MAX_PROXY_HOPS = 10;

function isAddressOrCidr(entry: string): boolean {
  if (ADDRESS_RANGE_NAMES.includes(entry)) return true;
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}

/** TRUST_PROXY's value, or the sentence that says why it is not one. */
function parseTrustProxy(raw: string): TrustProxy | string {
  const value = raw.trim();
  if (value === '' || value === 'false' || value === '0') return { kind: 'none' };
  if (value === 'true') return { kind: 'every-hop' };
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    return hops <= MAX_PROXY_HOPS ? { kind: 'hops', hops } : `a hop count is at most ${MAX_PROXY_HOPS}`;
  }
  const addresses = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const wrong = addresses.filter((a) => !isAddressOrCidr(a));
  if (wrong.length > 0) {
    return `${wrong.map((w) => JSON.stringify(w)).join(', ')}: not an IP address, a CIDR (e.g. 10.40.0.0/16) or one of ${ADDRESS_RANGE_NAMES.join(', ')}`;
  }
  return { kind: 'addresses', addresses };
}

/** A URL whose host is this machine: nothing on the network between the two ends. */
export function isLoopbackUrl(url: string): boolean {
  try {
    const host = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
    return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
  } catch {
    return false;
  }
}

/** An https URL, or an http one to this machine. */
export function isHttpsOrLoopback(url: string): boolean {
  return url.startsWith('https://') || (url.startsWith('http://') && isLoopbackUrl(url));
}

/**
 * What production must not run with: a TRUST_PROXY that lets any client choose its address (and
 * so its rate-limit bucket), and keys fetched over plain HTTP (anyone on the path could swap them).
 */
function productionHttpProblems(config: Config): string[] {
  if (config.NODE_ENV !== 'production') return [];
  const problems: string[] = [];
  if (config.TRUST_PROXY.kind === 'every-hop') {
    problems.push(
      "TRUST_PROXY: true is refused with NODE_ENV=production (every client could name its own address in X-Forwarded-For, and so its rate-limit bucket): give the load balancer's subnets or the VPC CIDR (e.g. 10.40.0.0/16), or a hop count",
    );
  }
  if (config.AUTH_JWKS_URL !== undefined && !isHttpsOrLoopback(config.AUTH_JWKS_URL)) {
    problems.push(
      'AUTH_JWKS_URL: http:// is refused with NODE_ENV=production (anyone on the path could swap the signing keys): use https://, or a loopback address',
    );
  }
  return problems;
}

/** The authorization request's own parameters: CONSOLE_OIDC_AUTHORIZATION_PARAMS may not set them. */
const RESERVED_AUTHORIZATION_PARAMS = [
  'client_id',
  'redirect_uri',
  'response_type',
  'scope',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
];

/** The console's sign-in settings go together, and its cookie's secrets are long enough to sign with. */
function consoleSignInProblems(config: Config): string[] {
  const problems: string[] = [];
  const enabled = config.CONSOLE_OIDC_CLIENT_ID !== undefined;
  if (!enabled) {
    const stray = (['CONSOLE_OIDC_CLIENT_SECRET', 'CONSOLE_PUBLIC_URL', 'CONSOLE_SESSION_SECRET'] as const).filter(
      (k) => config[k] !== undefined,
    );
    return stray.map((k) => `${k}: set without CONSOLE_OIDC_CLIENT_ID, which turns the console's sign-in on`);
  }
  if (config.CONSOLE_PUBLIC_URL === undefined) {
    problems.push('CONSOLE_PUBLIC_URL: required with CONSOLE_OIDC_CLIENT_ID (https://host where browsers reach the API)');
  } else if (new URL(config.CONSOLE_PUBLIC_URL).pathname !== '/' || /[?#]/.test(config.CONSOLE_PUBLIC_URL)) {
    problems.push('CONSOLE_PUBLIC_URL: give the origin only (https://host[:port]); the console lives at /admin');
  }
  const secrets = (config.CONSOLE_SESSION_SECRET ?? '').split(',').map((s) => s.trim());
  if (config.CONSOLE_SESSION_SECRET === undefined || secrets.some((s) => s.length < 32)) {
    problems.push(
      'CONSOLE_SESSION_SECRET: required with CONSOLE_OIDC_CLIENT_ID, each secret at least 32 characters (e.g. `openssl rand -base64 48`)',
    );
  }
  const scopes = config.CONSOLE_OIDC_SCOPE.split(' ');
  if (!scopes.includes('openid') || !scopes.includes('admin')) problems.push('CONSOLE_OIDC_SCOPE: must include openid and admin');
  const reserved = [...new URLSearchParams(config.CONSOLE_OIDC_AUTHORIZATION_PARAMS ?? '').keys()].filter((k) =>
    RESERVED_AUTHORIZATION_PARAMS.includes(k),
  );
  if (reserved.length > 0) problems.push(`CONSOLE_OIDC_AUTHORIZATION_PARAMS: ${reserved.join(', ')} are set by the console itself`);
  return problems;
}

/** Node refuses a headers timeout longer than the request timeout. */
function httpProblems(config: Config): string[] {
  return config.HTTP_HEADERS_TIMEOUT_MS > config.HTTP_REQUEST_TIMEOUT_MS
    ? ['HTTP_HEADERS_TIMEOUT_MS: must not exceed HTTP_REQUEST_TIMEOUT_MS (the headers are part of the request)']
    : [];
}

/** ECS_TASK_DEFINITION_REVISIONS as family → revision; a malformed entry is a configuration error. */
export function taskDefinitionRevisions(config: Config): Map<string, number> {
  const pins = new Map<string, number>();
  for (const entry of config.ECS_TASK_DEFINITION_REVISIONS) {
    const match = /^([A-Za-z0-9_-]{1,255}):([1-9]\d{0,9})$/.exec(entry);
    if (!match) throw new ConfigError([`ECS_TASK_DEFINITION_REVISIONS: "${entry}" is not family:revision`]);
    pins.set(match[1]!, Number(match[2]));
  }
  return pins;
}

/**
 * The most connections one use-case task holds in its own database: its pool (one per claimer,
 * one for the relay, the lease heartbeat and the launcher, which borrows from it) and, with
 * TASK_WAKE_NOTIFY, the LISTEN connection. A task whose messages go to modules in other databases
 * also opens one connection in each of those (see `maxEcsTasks`).
 */
export function taskConnections(config: Config): number {
  return config.TASK_CONCURRENCY + 1 + (config.TASK_WAKE_NOTIFY ? 1 : 0);
}

/**
 * How many tasks may run at once: ECS_MAX_TASKS, or what the budget leaves once each long-lived
 * process has its pool (DB_POOL_SIZE per database, whatever the number of modules in it), in
 * whole tasks. `databases`: how many databases the modules live in; a task may hold one
 * connection in each of the others (its relay's inserts, its successor's launch), counted here.
 */
export function maxEcsTasks(config: Config, databases = 1): number {
  if (config.ECS_MAX_TASKS !== undefined) return config.ECS_MAX_TASKS;
  const longLived = config.DB_LONG_LIVED_PROCESSES * config.DB_POOL_SIZE;
  return Math.max(0, Math.floor((config.DB_CONNECTION_BUDGET - longLived) / (taskConnections(config) + databases - 1)));
}

/** Refuses a budget that cannot give every active use case a task of its own (EVENT_BUS=ecs). */
export function checkConnectionBudget(config: Config, useCases: number, databases = 1): void {
  const tasks = maxEcsTasks(config, databases);
  if (tasks >= useCases) return;
  const longLived = config.DB_LONG_LIVED_PROCESSES * config.DB_POOL_SIZE;
  const perTask = taskConnections(config) + databases - 1;
  throw new ConfigError([
    `DB_CONNECTION_BUDGET: ${config.DB_CONNECTION_BUDGET} connections leave room for ${tasks} ECS task(s), fewer than the ${useCases} use cases that each need one: ` +
      `${config.DB_LONG_LIVED_PROCESSES} long-lived process(es) × DB_POOL_SIZE ${config.DB_POOL_SIZE} = ${longLived}, ` +
      `plus ${perTask} per task (TASK_CONCURRENCY ${config.TASK_CONCURRENCY} + 1${config.TASK_WAKE_NOTIFY ? ' + 1 LISTEN' : ''}${databases > 1 ? ` + ${databases - 1} in other databases` : ''}). Raise the budget, or lower DB_POOL_SIZE or TASK_CONCURRENCY.`,
  ]);
}
