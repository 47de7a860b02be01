import * as oidc from 'openid-client';
import type { ConsoleSignInSettings } from './sign-in-settings.js';

/** The console's paths the provider sends the browser back to. */
export const CALLBACK_PATH = '/admin/auth/callback';
export const SIGNED_OUT_PATH = '/admin/signed-out';

/** Seconds a request to the provider (discovery, token) may take. */
const PROVIDER_TIMEOUT_S = 5;

/** What the callback checks a sign-in against: kept in the (server-side) session between the two redirects. */
export interface SignInTransaction {
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  /** The console page the operator wanted. */
  readonly returnTo: string;
}

/** The provider could not be reached, or answered what no sign-in can continue from. */
export class ProviderUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`the sign-in provider does not answer: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'ProviderUnavailableError';
  }
}

/**
 * The console as an OpenID Connect relying party, with openid-client: the authorization code flow
 * with PKCE (S256), state and nonce, the ID token validated by the library, and RP-initiated
 * logout when the provider offers it. The provider is discovered on first use, not at startup: the
 * API serves its callers whether or not the provider answers.
 */
export class OidcRelyingParty {
  private configuration: Promise<oidc.Configuration> | undefined;

  constructor(private readonly settings: ConsoleSignInSettings) {}

  get redirectUri(): string {
    return `${this.settings.publicUrl}${CALLBACK_PATH}`;
  }

  /** Where to send the browser, and what its return must match. */
  async start(returnTo: string): Promise<{ url: URL; transaction: SignInTransaction }> {
    const config = await this.config();
    const transaction: SignInTransaction = {
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
      codeVerifier: oidc.randomPKCECodeVerifier(),
      returnTo,
    };
    const url = oidc.buildAuthorizationUrl(config, {
      ...this.settings.authorizationParams,
      redirect_uri: this.redirectUri,
      scope: this.settings.scope,
      state: transaction.state,
      nonce: transaction.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(transaction.codeVerifier),
      code_challenge_method: 'S256',
    });
    return { url, transaction };
  }

  /**
   * The provider's answer at the callback (`search`, its query), checked against `transaction` and
   * exchanged for tokens. Throws AuthorizationResponseError when the provider refused (access_denied),
   * ResponseBodyError when the token endpoint did, another openid-client error when a check failed.
   */
  async finish(search: string, transaction: SignInTransaction): Promise<{ accessToken: string; idToken?: string }> {
    const config = await this.config();
    const tokens = await oidc.authorizationCodeGrant(config, new URL(`${this.redirectUri}${search}`), {
      pkceCodeVerifier: transaction.codeVerifier,
      expectedState: transaction.state,
      expectedNonce: transaction.nonce,
      idTokenExpected: true,
    });
    return { accessToken: tokens.access_token, ...(tokens.id_token ? { idToken: tokens.id_token } : {}) };
  }

  /** The provider's end-session URL (RP-initiated logout) back to the signed-out page, if it has one. */
  async endSessionUrl(idToken: string | undefined): Promise<string | undefined> {
    const config = await this.config().catch(() => undefined);
    if (!config?.serverMetadata().end_session_endpoint) return undefined;
    return oidc
      .buildEndSessionUrl(config, {
        post_logout_redirect_uri: `${this.settings.publicUrl}${SIGNED_OUT_PATH}`,
        ...(idToken ? { id_token_hint: idToken } : {}),
      })
      .toString();
  }

  /** The provider's origin: the console's forms may lead there (sign-out). */
  get providerOrigin(): string {
    return this.settings.issuer.origin;
  }

  private config(): Promise<oidc.Configuration> {
    this.configuration ??= this.discover().catch((error: unknown) => {
      this.configuration = undefined; // the next sign-in tries again
      throw new ProviderUnavailableError(error);
    });
    return this.configuration;
  }

  private discover(): Promise<oidc.Configuration> {
    const { issuer, clientId, clientSecret } = this.settings;
    return oidc.discovery(issuer, clientId, undefined, clientSecret ? oidc.ClientSecretBasic(clientSecret) : oidc.None(), {
      timeout: PROVIDER_TIMEOUT_S,
      // http only to this machine (the settings refuse anything else).
      ...(issuer.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : {}),
    });
  }
}
