import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider, { type Configuration } from 'oidc-provider';

/**
 * A real OpenID Connect provider for the console's sign-in tests: panva's `oidc-provider` (the
 * certified implementation openid-client is tested against), as strict as a production provider in
 * what the console meets: PKCE required, redirect URIs registered exactly, JWT access tokens for
 * the API's resource signed with its own key, RP-initiated logout with its confirmation page. Its
 * development interactions take any login and password; an account whose name starts with
 * `viewer` is granted no `admin` scope.
 */
export interface TestProvider {
  /** The issuer, `http://localhost:<port>`: another site than the API at `https://127.0.0.1`. */
  readonly issuer: string;
  readonly jwksUrl: string;
  close(): Promise<void>;
}

export interface TestProviderOptions {
  readonly port: number;
  readonly clientId: string;
  readonly clientSecret: string;
  /** The console's origin, `https://127.0.0.1:<port>`. */
  readonly consoleOrigin: string;
  /** The resource indicator the console asks for, and the access token's audience. */
  readonly resource: string;
  readonly audience: string;
}

export async function startTestProvider(options: TestProviderOptions): Promise<TestProvider> {
  const issuer = `http://localhost:${options.port}`;
  // RS256 for ID tokens (what clients expect unless registered otherwise), ES256 for the API's access tokens.
  const rsa = (await generateKeyPair('RS256', { extractable: true })).privateKey;
  const ec = (await generateKeyPair('ES256', { extractable: true })).privateKey;
  const keys = [
    { ...(await exportJWK(rsa)), kid: 'test-provider-rs', use: 'sig', alg: 'RS256' },
    { ...(await exportJWK(ec)), kid: 'test-provider-es', use: 'sig', alg: 'ES256' },
  ];
  const provider = new Provider(issuer, configuration(options, keys));
  // `localhost` is 127.0.0.1 or ::1 depending on who resolves it: the provider answers on both.
  const servers: Server[] = [];
  for (const host of ['127.0.0.1', '::1']) {
    const server = createServer(provider.callback());
    const listening = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(options.port, host, () => resolve(true));
    });
    if (listening) servers.push(server);
    else if (host === '127.0.0.1') throw new Error(`the provider cannot listen on 127.0.0.1:${options.port}`);
  }
  return {
    issuer,
    jwksUrl: `${issuer}/jwks`,
    async close() {
      for (const server of servers) server.closeAllConnections();
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    },
  };
}

/** The provider's configuration: one confidential client (the console), PKCE, JWT access tokens for the API's resource. */
function configuration(options: TestProviderOptions, keys: JWK[]): Configuration {
  return {
    clients: [
      {
        client_id: options.clientId,
        client_secret: options.clientSecret,
        redirect_uris: [`${options.consoleOrigin}/admin/auth/callback`],
        post_logout_redirect_uris: [`${options.consoleOrigin}/admin/signed-out`],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys },
    cookies: { keys: ['a-test-provider-cookie-key-0123456789'] },
    scopes: ['openid', 'admin', 'orders:read'],
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => options.resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx) => {
          const account = ctx.oidc.session?.accountId ?? ctx.oidc.entities.AuthorizationCode?.accountId ?? '';
          return {
            scope: account.startsWith('viewer') ? 'orders:read' : 'admin orders:read',
            audience: options.audience,
            accessTokenFormat: 'jwt',
            accessTokenTTL: 600,
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
    },
  };
}
