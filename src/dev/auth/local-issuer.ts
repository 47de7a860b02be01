import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, exportPKCS8, exportSPKI, generateKeyPair, importPKCS8, SignJWT, type JWK } from 'jose';

/**
 * A local token issuer for trying AUTH_MODE=jwt on a laptop: an ES256 key pair under
 * `<DATA_DIR>/auth/` (made on first use), whose public key the dev server trusts and serves as a
 * JWKS, and `npm run -s auth:token` signs with. Never used by a production entrypoint.
 */
export const LOCAL_ISSUER = 'urn:saga:local-issuer';
export const LOCAL_AUDIENCE = 'saga-api';
const ALG = 'ES256';

export interface LocalKeys {
  readonly issuer: string;
  readonly audience: string;
  readonly publicKeyPem: string;
  readonly privateKeyPem: string;
  readonly kid: string;
}

function paths(dataDir: string) {
  const dir = join(dataDir, 'auth');
  return { dir, privateKey: join(dir, 'local-issuer.key.pem'), publicKey: join(dir, 'local-issuer.pub.pem') };
}

async function readPair(dataDir: string): Promise<{ privateKeyPem: string; publicKeyPem: string } | null> {
  const p = paths(dataDir);
  try {
    return { privateKeyPem: await readFile(p.privateKey, 'utf8'), publicKeyPem: await readFile(p.publicKey, 'utf8') };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** The key pair under DATA_DIR, made (private key readable by its owner only) when there is none. */
export async function localKeys(dataDir: string): Promise<LocalKeys> {
  let pair = await readPair(dataDir);
  if (!pair) {
    const { privateKey, publicKey } = await generateKeyPair(ALG, { extractable: true });
    pair = { privateKeyPem: await exportPKCS8(privateKey), publicKeyPem: await exportSPKI(publicKey) };
    const p = paths(dataDir);
    await mkdir(p.dir, { recursive: true, mode: 0o700 });
    await writeFile(p.privateKey, pair.privateKeyPem, { mode: 0o600, flag: 'wx' }).catch(async (error: NodeJS.ErrnoException) => {
      // Another process made it first: use theirs.
      if (error.code !== 'EEXIST') throw error;
    });
    await writeFile(p.publicKey, pair.publicKeyPem, { mode: 0o644, flag: 'wx' }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    pair = (await readPair(dataDir)) ?? pair;
  }
  const jwk = await exportJWK(await importPKCS8(pair.privateKeyPem, ALG, { extractable: true }));
  const kid = await calculateJwkThumbprint({ kty: jwk.kty!, crv: jwk.crv!, x: jwk.x!, y: jwk.y! } as JWK);
  return { issuer: LOCAL_ISSUER, audience: LOCAL_AUDIENCE, ...pair, kid };
}

/** The public key as a JWKS document (what an OpenID Connect provider serves at its jwks_uri). */
export async function localJwks(keys: LocalKeys): Promise<{ keys: JWK[] }> {
  const jwk = await exportJWK(await importPKCS8(keys.privateKeyPem, ALG, { extractable: true }));
  return { keys: [{ kty: jwk.kty!, crv: jwk.crv!, x: jwk.x!, y: jwk.y!, kid: keys.kid, alg: ALG, use: 'sig' }] };
}

export interface TokenRequest {
  readonly subject: string;
  readonly scopes: readonly string[];
  readonly customerId?: string;
  readonly ttlSeconds: number;
}

export async function signLocalToken(keys: LocalKeys, request: TokenRequest): Promise<string> {
  const privateKey = await importPKCS8(keys.privateKeyPem, ALG);
  return new SignJWT({ scope: request.scopes.join(' '), ...(request.customerId ? { customer_id: request.customerId } : {}) })
    .setProtectedHeader({ alg: ALG, kid: keys.kid, typ: 'at+jwt' })
    .setIssuer(keys.issuer)
    .setAudience(keys.audience)
    .setSubject(request.subject)
    .setIssuedAt()
    .setNotBefore('0s')
    .setExpirationTime(`${request.ttlSeconds}s`)
    .sign(privateKey);
}
