import { BOT_MANAGED_IDENTITY_OID, derivedGuid } from '../../emulator/identity';
import type { RunningEmulator } from '../../emulator/server';
import { useManagedIdentityEmulator } from '../support/managed-identity-emulator';
import { getLog, submitConsent } from '../../emulator/test-client';
import { loadConfig } from '../../src/config/config';
import { createAppCredential } from '../../src/foundry/credentials';
import { FOUNDRY_SCOPE } from '../../src/foundry/types';
import { DEFAULT_USER, SECOND_USER, type TeamsUser } from '../support/fakes/activities';
import { actionOf, cardText, openUrlOf } from '../support/harness';
import { Chat, consentIdOf, startIdentityStack, toolCalls, type IdentityStack } from './identity-helpers';

/**
 * Issue 5, app mode (FOUNDRY_AUTH=app): the bot calls Foundry as itself with the REAL @azure/identity
 * credentials against the emulator's managed-identity endpoint (IDENTITY_ENDPOINT / IDENTITY_HEADER, the App
 * Service / Container Apps source). MSAL keeps the managed-identity source and its tokens process-wide (see
 * emulator-mi-quirks.test.ts), so this file uses one emulator, and DefaultAzureCredential runs first.
 */
const ADA = DEFAULT_USER; // the one SHARED_CONSENT_ADMINS entry
const BEN = SECOND_USER;
let emu: RunningEmulator;
useManagedIdentityEmulator((e) => (emu = e));

const appConfig = (env: Record<string, string> = {}) =>
  loadConfig({
    NODE_ENV: 'development',
    FOUNDRY_PROJECT_ENDPOINT: emu.projectEndpoint,
    FOUNDRY_AGENT_NAME: 'helpdesk-agent',
    ...env,
  }).foundry;
const claims = (jwt: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
const miCalls = async (): Promise<number> =>
  (await getLog(emu.url)).requests.filter((q) => q.path === '/msi/token').length;

describe('app mode credentials (real @azure/identity classes)', () => {
  it('DefaultAzureCredential (FOUNDRY_CREDENTIAL=default) picks managed identity offline', async () => {
    const cred = createAppCredential(appConfig({ FOUNDRY_CREDENTIAL: 'default' }));
    const started = Date.now();
    const t = await cred.getToken(FOUNDRY_SCOPE);
    const ms = Date.now() - started;
    // Environment credential (no AZURE_CLIENT_SECRET…) and workload identity (no federated token file) are
    // skipped without I/O; managed identity answers; Azure CLI and later entries are never tried.
    expect(claims(t?.token ?? '')).toMatchObject({
      oid: BOT_MANAGED_IDENTITY_OID,
      aud: 'https://ai.azure.com',
    });
    expect(await miCalls()).toBe(1);
    expect(ms).toBeLessThan(10_000); // ~0.2 s idle, ~2 s on this shared, loaded machine
    process.stdout.write(`DefaultAzureCredential → managed identity in ${ms} ms\n`);
    expect(JSON.stringify(cred)).toBe('{"name":"AppCredential","kind":"default"}');
  });

  it('ManagedIdentityCredential: system-assigned, and user-assigned by client id (AZURE_CLIENT_ID)', async () => {
    const system = await createAppCredential(appConfig({ FOUNDRY_CREDENTIAL: 'managed_identity' })).getToken(
      FOUNDRY_SCOPE,
    );
    expect(claims(system?.token ?? '')['oid']).toBe(BOT_MANAGED_IDENTITY_OID);
    const clientId = '0e0e0e0e-1111-4222-8333-555555555555';
    const user = await createAppCredential(
      appConfig({ FOUNDRY_CREDENTIAL: 'managed_identity', AZURE_CLIENT_ID: clientId }),
    ).getToken(FOUNDRY_SCOPE);
    expect(claims(user?.token ?? '')).toMatchObject({
      oid: derivedGuid(`mi-client:${clientId}`),
      appid: clientId,
    });
    const log = await getLog(emu.url);
    expect(log.requests.filter((q) => q.path === '/msi/token').map((q) => q.callerOid)).toContain(
      derivedGuid(`mi-client:${clientId}`),
    );
  });
});

describe('app mode: a shared consent, completed only by a named admin', () => {
  let s: IdentityStack;
  let chat: Chat;
  const logs: string[] = [];
  beforeAll(async () => {
    s = await startIdentityStack({
      mode: 'app',
      emulator: emu,
      logs,
      env: { SHARED_CONSENT_ADMINS: ADA.aadObjectId ?? '' },
    });
    chat = new Chat(s, 'groupChat');
  });
  afterAll(async () => {
    await s.close({ keepEmulator: true });
  });

  const oid = (u: TeamsUser): string => u.aadObjectId ?? '';

  it('the card says the sign-in is shared; Ben (not an admin) is refused and told to ask an admin', async () => {
    await chat.say(BEN, 'search my issues');
    const cards = chat.adaptiveCards().filter((c) => JSON.stringify(c).includes('"consentId"'));
    expect(cards).toHaveLength(1);
    const card = cards[0] ?? {};
    expect(cardText(card)).toMatch(
      /shared: once completed, everyone who uses this bot acts through the same/,
    );
    expect(chat.signInCards()).toHaveLength(0); // no Teams SSO in app mode
    const consentId = consentIdOf(card);
    const bens = await chat.click(BEN, 'consent.refresh', { kind: 'consent', consentId });
    expect(openUrlOf(bens.value)).toBeUndefined();
    expect(cardText(bens.value)).toContain('Please ask an administrator');
    const refused = await chat.click(BEN, 'consent.continue', { kind: 'consent', consentId });
    expect(refused.statusCode).toBe(403);
    expect(JSON.stringify(refused.value)).toContain('ask an administrator');
    expect(await toolCalls(emu.url)).toEqual([]);
  });

  it('Ada (admin) completes it; the tool runs as the bot; then Ben and Ada use it without any prompt', async () => {
    const card = chat.adaptiveCards().find((c) => JSON.stringify(c).includes('"consentId"')) ?? {};
    const consentId = consentIdOf(card);
    const adas = await chat.click(ADA, 'consent.refresh', { kind: 'consent', consentId });
    const link = openUrlOf(adas.value);
    expect(link).toBeDefined();
    await submitConsent(emu.url, link ?? '', 'allow');
    const cont = actionOf(adas.value, "I've signed in");
    const done = await chat.click(ADA, cont?.verb ?? '', cont?.data ?? {});
    expect(done.statusCode).toBe(200);
    await s.bot.relay.idle();
    expect(chat.texts().some((t) => t.includes('You have 3 open issues'))).toBe(true);

    const consentCards = (): number =>
      chat.adaptiveCards().filter((c) => JSON.stringify(c).includes('"consentId"')).length;
    const before = consentCards();
    await chat.say(BEN, 'search my issues again');
    await chat.say(ADA, 'search my issues');
    expect(consentCards()).toBe(before);
    const calls = await toolCalls(emu.url);
    expect(calls).toHaveLength(3);
    // Shared: every call ran as the bot's managed identity, never as Ada or Ben.
    expect(calls.every((c) => c.callerOid === BOT_MANAGED_IDENTITY_OID)).toBe(true);
    const foundry = (await getLog(emu.url)).requests.filter((q) => q.path.endsWith('/responses'));
    expect(foundry.every((q) => q.callerOid === BOT_MANAGED_IDENTITY_OID)).toBe(true);
    expect(foundry.some((q) => q.callerOid === oid(ADA) || q.callerOid === oid(BEN))).toBe(false);
  });

  it('LOG-01 canary: the managed-identity token never appears in logs or Teams messages', async () => {
    const t = await createAppCredential(appConfig({ FOUNDRY_CREDENTIAL: 'managed_identity' })).getToken(
      FOUNDRY_SCOPE,
    );
    const token = t?.token ?? '';
    expect(token.length).toBeGreaterThan(100);
    const sent = JSON.stringify(s.connector.requests().map((q) => q.activity));
    const logged = logs.join('\n');
    expect(logs.length).toBeGreaterThan(5);
    for (const needle of [token, token.split('.')[2] ?? token, emu.identityHeader]) {
      expect(logged.includes(needle)).toBe(false);
      expect(sent.includes(needle)).toBe(false);
    }
  });
});
