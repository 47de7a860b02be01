import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { localJwks, localKeys, LOCAL_AUDIENCE, LOCAL_ISSUER } from '../../../src/dev/auth/local-issuer.js';
import { TokenVerifier } from '../../../src/shared/infrastructure/http/security/token-verifier.js';

/** The dev server's local issuer and `npm run -s auth:token`: tokens an API with AUTH_MODE=jwt accepts. */
const run = promisify(execFile);
const dataDir = mkdtempSync(join(tmpdir(), 'saga-local-issuer-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('the local issuer', () => {
  it('makes its key pair once under DATA_DIR/auth, the private key readable by its owner only', async () => {
    const first = await localKeys(dataDir);
    const again = await localKeys(dataDir);
    expect(again.publicKeyPem).toBe(first.publicKeyPem);
    expect(again.kid).toBe(first.kid);
    expect(statSync(join(dataDir, 'auth', 'local-issuer.key.pem')).mode & 0o077).toBe(0);
  });

  it('prints tokens (npm run -s auth:token) that its public key and its JWKS verify, with the claims asked for', async () => {
    const customer = '01a217bd-4a94-717b-8065-a430e3e8be76';
    const { stdout } = await run(
      process.execPath,
      ['node_modules/tsx/dist/cli.mjs', 'src/dev/cli/auth-token.ts', '--customer', customer, '--ttl', '120'],
      { env: { ...process.env, DATA_DIR: dataDir }, timeout: 30_000 },
    );
    const token = stdout.trim();
    const keys = await localKeys(dataDir);
    const verifier = new TokenVerifier({
      issuer: LOCAL_ISSUER,
      audience: LOCAL_AUDIENCE,
      keys: { publicKeyPem: keys.publicKeyPem },
      clockToleranceS: 0,
      cacheSize: 0,
    });
    const principal = await verifier.verify(token);
    expect(principal.customerId).toBe(customer);
    expect([...principal.scopes]).toEqual(['orders:read', 'orders:write']);
    const { payload } = await jwtVerify(token, createLocalJWKSet(await localJwks(keys)), {
      issuer: LOCAL_ISSUER,
      audience: LOCAL_AUDIENCE,
    });
    expect(payload.exp! - payload.iat!).toBe(120);
  });

  it('refuses a customer that is not an id', async () => {
    await expect(
      run(process.execPath, ['node_modules/tsx/dist/cli.mjs', 'src/dev/cli/auth-token.ts', '--customer', 'alice'], {
        env: { ...process.env, DATA_DIR: dataDir },
        timeout: 30_000,
      }),
    ).rejects.toMatchObject({ code: 2 });
  });
});
