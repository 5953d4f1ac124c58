import { createPublicKey, verify, type JsonWebKey } from 'node:crypto';
import { ManagedIdentityCredential } from '@azure/identity';
import OpenAI from 'openai';
import { BOT_MANAGED_IDENTITY_OID } from '../../emulator/identity';
import { startEmulator, type RunningEmulator } from '../../emulator/server';
import { getLog, reset, setFaults } from '../../emulator/test-client';
import { AGENT, ALICE, type FoundryNonStreaming } from './emulator-helpers';

// docs/foundry-wire.md §1.3 and the emulator's identity endpoints: App Service managed identity
// (IDENTITY_ENDPOINT / IDENTITY_HEADER, api-version 2019-08-01), JWKS and OpenID configuration.

let emu: RunningEmulator;
const ENV_KEYS = [
  'IDENTITY_ENDPOINT',
  'IDENTITY_HEADER',
  'IDENTITY_SERVER_THUMBPRINT',
  'MSI_ENDPOINT',
  'MSI_SECRET',
  'IMDS_ENDPOINT',
  'AZURE_CLIENT_ID',
  'AZURE_TENANT_ID',
  'AZURE_FEDERATED_TOKEN_FILE',
] as const;
const saved: Partial<Record<(typeof ENV_KEYS)[number], string>> = {};

beforeAll(async () => {
  emu = await startEmulator();
  for (const k of ENV_KEYS) {
    const v = process.env[k];
    if (v !== undefined) saved[k] = v;
    delete process.env[k];
  }
  // @azure/identity (through MSAL) reads these when the credential is constructed and caches the chosen
  // source for the whole process (module registry), so one emulator serves every MI test in this file.
  process.env['IDENTITY_ENDPOINT'] = emu.identityEndpoint;
  process.env['IDENTITY_HEADER'] = emu.identityHeader;
});
afterAll(async () => {
  for (const k of ENV_KEYS) {
    delete process.env[k];
    const v = saved[k];
    if (v !== undefined) process.env[k] = v;
  }
  await emu.close();
});
beforeEach(async () => {
  await reset(emu.url);
});

const claims = (jwt: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;

describe('managed identity endpoint', () => {
  it('gives the real ManagedIdentityCredential a token for the bot identity, accepted by the Foundry routes', async () => {
    const cred = new ManagedIdentityCredential();
    const t = await cred.getToken('https://ai.azure.com/.default');
    expect(t.token.split('.')).toHaveLength(3);
    expect(t.expiresOnTimestamp).toBeGreaterThan(Date.now() + 3600_000);
    expect(claims(t.token)).toMatchObject({
      oid: BOT_MANAGED_IDENTITY_OID,
      tid: emu.tenantId,
      aud: 'https://ai.azure.com',
      idtyp: 'app',
      iss: `${emu.url}/${emu.tenantId}/v2.0`,
    });
    const client = new OpenAI({ baseURL: `${emu.projectEndpoint}/openai/v1`, apiKey: t.token });
    const r = await client.responses.create({
      input: 'hello',
      agent_reference: AGENT,
    } as FoundryNonStreaming);
    expect(r.status).toBe('completed');
    const log = await getLog(emu.url);
    const mi = log.requests.filter((q) => q.path === '/msi/token');
    expect(mi).toHaveLength(1);
    expect(mi[0]).toMatchObject({ status: 200, callerOid: BOT_MANAGED_IDENTITY_OID });
    expect(log.requests.find((q) => q.path.endsWith('/responses'))?.callerOid).toBe(BOT_MANAGED_IDENTITY_OID);
  });

  it('maps a user-assigned client id to a different identity', async () => {
    const cred = new ManagedIdentityCredential({ clientId: '0d0d0d0d-1111-4222-8333-444444444444' });
    const t = await cred.getToken('https://ai.azure.com/.default');
    const c = claims(t.token);
    expect(c['oid']).not.toBe(BOT_MANAGED_IDENTITY_OID);
    expect(c['appid']).toBe('0d0d0d0d-1111-4222-8333-444444444444');
    const log = await getLog(emu.url);
    expect(log.requests.filter((q) => q.path === '/msi/token')[0]?.callerOid).toBe(c['oid']);
  });

  it('answers the App Service 2019-08-01 shape and rejects a missing or wrong header', async () => {
    const q = `api-version=2019-08-01&resource=${encodeURIComponent('https://ai.azure.com')}`;
    const ok = await fetch(`${emu.identityEndpoint}?${q}`, {
      headers: { 'X-IDENTITY-HEADER': emu.identityHeader },
    });
    const body = (await ok.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      token_type: 'Bearer',
      resource: 'https://ai.azure.com',
      access_token: expect.any(String),
      expires_on: expect.stringMatching(/^\d+$/),
      client_id: expect.any(String),
    });
    expect((await fetch(`${emu.identityEndpoint}?${q}`)).status).toBe(400);
    expect(
      (await fetch(`${emu.identityEndpoint}?${q}`, { headers: { 'X-IDENTITY-HEADER': 'wrong' } })).status,
    ).toBe(401);
    const badVersion = await fetch(`${emu.identityEndpoint}?api-version=2017-09-01&resource=x`, {
      headers: { 'X-IDENTITY-HEADER': emu.identityHeader },
    });
    expect(badVersion.status).toBe(400);
  });

  it('can be rate limited through a fault', async () => {
    await setFaults(emu.url, [{ kind: 'rate_limit', retryAfterSec: 3, match: { target: 'identity' } }]);
    const q = `api-version=2019-08-01&resource=https://ai.azure.com`;
    const h = { headers: { 'X-IDENTITY-HEADER': emu.identityHeader } };
    const first = await fetch(`${emu.identityEndpoint}?${q}`, h);
    expect([first.status, first.headers.get('retry-after')]).toEqual([429, '3']);
    expect((await fetch(`${emu.identityEndpoint}?${q}`, h)).status).toBe(200);
  });
});

describe('JWKS and OpenID configuration', () => {
  it('publishes the signing key; issued tokens verify against it', async () => {
    const cfg = (await (
      await fetch(`${emu.url}/${emu.tenantId}/v2.0/.well-known/openid-configuration`)
    ).json()) as Record<string, string>;
    expect(cfg['issuer']).toBe(`${emu.url}/${emu.tenantId}/v2.0`);
    expect(cfg['jwks_uri']).toBe(`${emu.url}/${emu.tenantId}/discovery/v2.0/keys`);
    const jwks = (await (await fetch(cfg['jwks_uri'] ?? '')).json()) as {
      keys: (JsonWebKey & { kid: string })[];
    };
    const token = emu.issueToken({ oid: ALICE, name: 'Alice' });
    const [h, p, s] = token.split('.');
    const header = JSON.parse(Buffer.from(h ?? '', 'base64url').toString('utf8')) as {
      kid: string;
      alg: string;
    };
    expect(header.alg).toBe('RS256');
    const jwk = jwks.keys.find((k) => k.kid === header.kid);
    expect(jwk).toBeDefined();
    if (!jwk) throw new Error('kid not in the JWKS');
    const key = createPublicKey({ key: jwk, format: 'jwk' });
    expect(verify('sha256', Buffer.from(`${h}.${p}`), key, Buffer.from(s ?? '', 'base64url'))).toBe(true);
    expect(claims(token)).toMatchObject({
      oid: ALICE,
      name: 'Alice',
      tid: emu.tenantId,
      aud: 'https://ai.azure.com',
    });
    const c = claims(token);
    expect(Number(c['exp']) - Number(c['iat'])).toBe(3600);
    expect(Number(c['nbf'])).toBeLessThanOrEqual(Number(c['iat']));
  });
});
