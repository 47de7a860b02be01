import { ConfigError, type Config } from '../../config/config.js';
import { PLATFORM_SCOPES } from '../route-config.js';
import type { HttpLimits } from '../http-server.js';
import { consoleSignInFrom } from './sign-in/sign-in-settings.js';
import { JwtAuthenticator, OffAuthenticator, type Authenticator } from './authentication.js';
import type { ApiSecurity } from './api-security.js';
import { TokenVerifier, type KeySource } from './token-verifier.js';
import { trustedHopFrom } from './trusted-hop.js';

/** The dev server's own issuer (src/dev/auth): used when AUTH_MODE=jwt names no issuer, audience or key. */
export interface LocalIssuer {
  readonly issuer: string;
  readonly audience: string;
  readonly publicKeyPem: string;
}

type AuthSettings = Pick<
  Config,
  | 'NODE_ENV'
  | 'AUTH_MODE'
  | 'AUTH_ISSUER'
  | 'AUTH_AUDIENCE'
  | 'AUTH_JWKS_URL'
  | 'AUTH_PUBLIC_KEY'
  | 'AUTH_CLOCK_TOLERANCE_S'
  | 'AUTH_JWKS_TIMEOUT_MS'
  | 'AUTH_JWKS_COOLDOWN_MS'
  | 'AUTH_TOKEN_CACHE_SIZE'
  | 'ADMIN_TOKEN'
>;

const PLATFORM_SCOPE_NAMES = Object.keys(PLATFORM_SCOPES);

/** AUTH_MODE's default: jwt in production, off elsewhere. */
export function authMode(config: Pick<Config, 'AUTH_MODE' | 'NODE_ENV'>): 'jwt' | 'off' {
  return config.AUTH_MODE ?? (config.NODE_ENV === 'production' ? 'jwt' : 'off');
}

function keySource(config: AuthSettings, local: LocalIssuer | undefined, problems: string[]): KeySource | undefined {
  if (config.AUTH_JWKS_URL && config.AUTH_PUBLIC_KEY) problems.push('AUTH_JWKS_URL, AUTH_PUBLIC_KEY: set one, not both');
  if (config.AUTH_JWKS_URL) {
    return { jwksUrl: config.AUTH_JWKS_URL, timeoutMs: config.AUTH_JWKS_TIMEOUT_MS, cooldownMs: config.AUTH_JWKS_COOLDOWN_MS };
  }
  const pem = config.AUTH_PUBLIC_KEY?.replaceAll('\\n', '\n') ?? local?.publicKeyPem;
  if (pem) return { publicKeyPem: pem };
  problems.push('AUTH_JWKS_URL or AUTH_PUBLIC_KEY: one is required with AUTH_MODE=jwt (where the issuer publishes its keys)');
  return undefined;
}

/**
 * The API's authenticator from AUTH_*: jwt needs an issuer, an audience and keys; off is refused in
 * production. Every problem names its variable (a ConfigError: the entrypoint exits 78).
 */
export function authenticatorFrom(
  config: AuthSettings,
  local?: LocalIssuer,
  scopes: Iterable<string> = PLATFORM_SCOPE_NAMES,
): Authenticator {
  if (authMode(config) === 'off') {
    if (config.NODE_ENV === 'production') throw new ConfigError(['AUTH_MODE: off is refused with NODE_ENV=production']);
    return new OffAuthenticator(scopes, config.ADMIN_TOKEN);
  }
  const problems: string[] = [];
  const issuer = config.AUTH_ISSUER ?? local?.issuer;
  const audience = config.AUTH_AUDIENCE ?? local?.audience;
  if (!issuer) problems.push('AUTH_ISSUER: required with AUTH_MODE=jwt (the `iss` every token must carry)');
  if (!audience) problems.push('AUTH_AUDIENCE: required with AUTH_MODE=jwt (the `aud` every token must carry)');
  const keys = keySource(config, local, problems);
  if (problems.length > 0 || !issuer || !audience || !keys) throw new ConfigError(problems);
  let verifier: TokenVerifier;
  try {
    verifier = new TokenVerifier({
      issuer,
      audience,
      keys,
      clockToleranceS: config.AUTH_CLOCK_TOLERANCE_S,
      cacheSize: config.AUTH_TOKEN_CACHE_SIZE,
    });
  } catch (error) {
    throw new ConfigError([`AUTH_PUBLIC_KEY: ${error instanceof Error ? error.message : String(error)}`]);
  }
  return new JwtAuthenticator(verifier, config.ADMIN_TOKEN);
}

export function httpLimitsFrom(config: Config): HttpLimits {
  return {
    requestTimeoutMs: config.HTTP_REQUEST_TIMEOUT_MS,
    headersTimeoutMs: config.HTTP_HEADERS_TIMEOUT_MS,
    keepAliveTimeoutMs: config.HTTP_KEEP_ALIVE_TIMEOUT_MS,
    maxConnections: config.HTTP_MAX_CONNECTIONS,
    maxConnectionsPerAddress: config.HTTP_MAX_CONNECTIONS_PER_ADDRESS,
    trustProxy: trustedHopFrom(config.TRUST_PROXY),
  };
}

/**
 * `redisUrl`: where the process found Redis (the dev server may have started one); RATE_LIMIT_REDIS_URL wins.
 * `scopes`: every scope the API declares (what AUTH_MODE=off's developer holds); default the platform's alone.
 */
export function apiSecurityFrom(
  config: Config,
  options: { local?: LocalIssuer; redisUrl?: string; scopes?: Iterable<string> } = {},
): ApiSecurity {
  const { local } = options;
  const redisUrl = config.RATE_LIMIT_REDIS_URL ?? options.redisUrl ?? config.REDIS_URL;
  const consoleSignIn = consoleSignInFrom(config, authMode(config));
  return {
    authenticator: authenticatorFrom(config, local, options.scopes),
    ...(consoleSignIn ? { consoleSignIn } : {}),
    rateLimit: {
      max: config.RATE_LIMIT_MAX,
      sagaMax: config.RATE_LIMIT_SAGA_MAX,
      windowMs: config.RATE_LIMIT_WINDOW_MS,
      keyPrefix: `${config.BULLMQ_PREFIX}:rate-limit:`,
      ...(redisUrl ? { redisUrl } : {}),
    },
  };
}
