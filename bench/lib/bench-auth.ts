import { exportSPKI, generateKeyPair, SignJWT } from 'jose';

/**
 * The bench's callers authenticate as production's do (AUTH_MODE=jwt): a key pair made for the run,
 * whose public key the system trusts (AUTH_PUBLIC_KEY), and one staff token for every request (a
 * client reuses its token: the API verifies it once, then finds it in its cache). Rate limits are
 * off: the bench measures the system at its saturation, far beyond any one client's fair share.
 */
export interface BenchAuth {
  readonly env: Record<string, string>;
  readonly headers: Record<string, string>;
}

const ISSUER = 'urn:saga:bench';
const AUDIENCE = 'saga-api';

export async function benchAuth(): Promise<BenchAuth> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const token = await new SignJWT({ scope: 'customers:read customers:write orders:read orders:write admin' })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject('bench')
    .setIssuedAt()
    .setExpirationTime('6h')
    .sign(privateKey);
  return {
    env: {
      AUTH_MODE: 'jwt',
      AUTH_ISSUER: ISSUER,
      AUTH_AUDIENCE: AUDIENCE,
      AUTH_PUBLIC_KEY: await exportSPKI(publicKey),
      RATE_LIMIT_MAX: '0',
      RATE_LIMIT_SAGA_MAX: '0',
      // One load generator on one address, far above a client's fair share of connections.
      HTTP_MAX_CONNECTIONS_PER_ADDRESS: '0',
    },
    headers: { authorization: `Bearer ${token}` },
  };
}

/** The same system without authentication, beside which the bench states what verifying tokens costs. */
export const AUTH_OFF_ENV: Record<string, string> = { NODE_ENV: 'development', AUTH_MODE: 'off' };
