import { ConfigError, isHttpsOrLoopback, type Config } from '../../../config/config.js';

/** How operators sign in to the console: CONSOLE_* with the API's own provider (AUTH_ISSUER). */
export interface ConsoleSignInSettings {
  /** The OpenID Connect provider, found by discovery at `<issuer>/.well-known/openid-configuration`. */
  readonly issuer: URL;
  readonly clientId: string;
  /** Unset: a public client (PKCE alone). */
  readonly clientSecret?: string;
  readonly scope: string;
  /** What the provider needs to issue an access token for the API's audience (`resource`, `audience`...). */
  readonly authorizationParams: Readonly<Record<string, string>>;
  /** The origin browsers reach the API at: the redirect URI and the post-logout URI are under it. */
  readonly publicUrl: string;
  /** Cookie signing secrets, the first one signing. */
  readonly sessionSecrets: readonly string[];
  readonly sessionTtlMs: number;
}

/** The console's sign-in from CONSOLE_*, undefined when CONSOLE_OIDC_CLIENT_ID is unset; a ConfigError names what is wrong. */
export function consoleSignInFrom(config: Config, mode: 'jwt' | 'off'): ConsoleSignInSettings | undefined {
  const clientId = config.CONSOLE_OIDC_CLIENT_ID;
  if (clientId === undefined || config.CONSOLE_PUBLIC_URL === undefined || config.CONSOLE_SESSION_SECRET === undefined) return undefined;
  if (mode !== 'jwt') {
    throw new ConfigError([
      'CONSOLE_OIDC_CLIENT_ID: console sign-in needs AUTH_MODE=jwt (the session holds an access token the API verified)',
    ]);
  }
  const issuer = config.AUTH_ISSUER;
  if (issuer === undefined || !URL.canParse(issuer) || !isHttpsOrLoopback(issuer)) {
    throw new ConfigError([
      'AUTH_ISSUER: console sign-in discovers the provider at AUTH_ISSUER, which must be its https URL (http only to this machine)',
    ]);
  }
  return {
    issuer: new URL(issuer),
    clientId,
    ...(config.CONSOLE_OIDC_CLIENT_SECRET ? { clientSecret: config.CONSOLE_OIDC_CLIENT_SECRET } : {}),
    scope: config.CONSOLE_OIDC_SCOPE,
    authorizationParams: Object.fromEntries(new URLSearchParams(config.CONSOLE_OIDC_AUTHORIZATION_PARAMS ?? '')),
    publicUrl: new URL(config.CONSOLE_PUBLIC_URL).origin,
    sessionSecrets: config.CONSOLE_SESSION_SECRET.split(',').map((s) => s.trim()),
    sessionTtlMs: config.CONSOLE_SESSION_TTL_MS,
  };
}
