import { configSecrets, loadConfig } from '../../src/config/config';
import { DEFAULT_CONSENT_LINK_HOSTS, DEFAULT_OUTBOUND_HOSTS } from '../../src/config/env-schema';
import type { BotError } from '../../src/errors';
import { isBotError } from '../../src/errors';

/**
 * loadConfig (docs/conventions.md C8): every key's validation, the defaults, the production refusals, and messages
 * that name keys and never values (each bad value below carries a canary that must not appear).
 */
const CANARY = 'CANARYcfg91';
const GUID = '22222222-3333-4444-5555-666666666666';
const TENANT = '11111111-1111-1111-1111-111111111111';

const DEV: Record<string, string> = {
  NODE_ENV: 'development',
  FOUNDRY_PROJECT_ENDPOINT: 'http://127.0.0.1:5000/api/projects/demo',
  FOUNDRY_AGENT_NAME: 'helpdesk-agent',
};
const PROD: Record<string, string> = {
  NODE_ENV: 'production',
  BOT_ID: GUID,
  BOT_PASSWORD: `${CANARY}-pw`,
  FOUNDRY_PROJECT_ENDPOINT: 'https://x.services.ai.azure.com/api/projects/p',
  FOUNDRY_AGENT_NAME: 'helpdesk-agent',
  STORAGE: 'blob',
  BLOB_ACCOUNT_URL: 'https://acct.blob.core.windows.net',
};

function failure(env: Record<string, string>): BotError {
  try {
    loadConfig(env);
  } catch (err) {
    if (isBotError(err, 'CONFIG_INVALID')) return err;
    throw err;
  }
  throw new Error('loadConfig accepted the configuration');
}

describe('defaults', () => {
  it('a minimal development configuration gets every default', () => {
    const c = loadConfig(DEV);
    expect(c.env).toBe('development');
    expect(c.http).toEqual({ port: 3978, host: '0.0.0.0' });
    expect(c.logLevel).toBe('info');
    expect(c.bot).toMatchObject({
      appId: undefined,
      appPassword: undefined,
      appType: 'MultiTenant',
      tenantId: undefined,
      openIdMetadataUrl: undefined,
      allowedTenants: [],
    });
    expect(c.bot.outboundHosts).toEqual([...DEFAULT_OUTBOUND_HOSTS, 'localhost', '127.0.0.1', '[::1]']);
    expect(c.foundry).toMatchObject({
      projectEndpoint: 'http://127.0.0.1:5000/api/projects/demo',
      agentName: 'helpdesk-agent',
      agentVersion: undefined,
      threading: 'previous_response',
      auth: 'app',
      credential: 'default',
      timeoutMs: 45_000,
      // Issue 11 item 1: MCP tools may stay silent for ~100 s; the idle watchdog must not cut them off.
      idleTimeoutMs: 120_000,
      maxRetries: 2,
      busyRetries: 3,
      busyRetryDelayMs: 2_000,
    });
    expect(c.policy).toEqual({
      consentLinkHosts: [...DEFAULT_CONSENT_LINK_HOSTS],
      sharedConsentAdmins: [],
      approvers: [],
      approvalTtlMs: 15 * 60_000,
      consentTtlMs: 30 * 60_000,
      maxQueuedTurns: 2,
      dedupeTtlMs: 15 * 60_000,
      streaming: true,
      welcomePrompts: [],
    });
    expect(c.shutdownDrainMs).toBe(10_000);
    expect(c.storage).toEqual({ kind: 'memory' });
  });

  it('NODE_ENV defaults to production (so an unset environment is held to the production rules)', () => {
    const e = failure({ FOUNDRY_PROJECT_ENDPOINT: 'https://x/api', FOUNDRY_AGENT_NAME: 'a' });
    expect(e.message).toContain('BOT_ID is required');
    expect(e.message).toContain('STORAGE');
  });

  it('empty strings count as unset', () => {
    const c = loadConfig({ ...DEV, PORT: '', LOG_LEVEL: ' ', BOT_ID: '', STORAGE: '' });
    expect(c.http.port).toBe(3978);
    expect(c.logLevel).toBe('info');
    expect(c.bot.appId).toBeUndefined();
  });

  it('the result is deeply frozen', () => {
    const c = loadConfig(DEV);
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.bot.outboundHosts)).toBe(true);
    expect(() => (c.policy.approvers as string[]).push('x')).toThrow(TypeError);
  });
});

describe('parsing', () => {
  it('lists are comma-separated, trimmed and lower-cased where they are ids or hosts', () => {
    const c = loadConfig({
      ...DEV,
      ALLOWED_TENANTS: ` ${TENANT.toUpperCase()} , ${GUID} ,`,
      APPROVERS: 'AAAA-1, bbbb-2',
      SHARED_CONSENT_ADMINS: 'Admin-1',
      CONSENT_LINK_HOSTS: 'Consent.Example.com,login.example.org',
      OUTBOUND_HOSTS: 'Bots.Example.com',
      WELCOME_PROMPTS: 'one, two',
    });
    expect(c.bot.allowedTenants).toEqual([TENANT, GUID]);
    expect(c.policy.approvers).toEqual(['aaaa-1', 'bbbb-2']);
    expect(c.policy.sharedConsentAdmins).toEqual(['admin-1']);
    expect(c.policy.consentLinkHosts).toEqual(['consent.example.com', 'login.example.org']);
    expect(c.bot.outboundHosts).toContain('bots.example.com');
    expect(c.policy.welcomePrompts).toEqual(['one', 'two']);
  });

  it('numbers, booleans and minutes are converted', () => {
    const c = loadConfig({
      ...DEV,
      PORT: '0',
      FOUNDRY_TIMEOUT_MS: '1000',
      FOUNDRY_IDLE_TIMEOUT_MS: '500',
      FOUNDRY_MAX_RETRIES: '0',
      APPROVAL_TTL_MINUTES: '1',
      CONSENT_TTL_MINUTES: '2',
      DEDUPE_TTL_MINUTES: '3',
      MAX_QUEUED_TURNS: '0',
      SHUTDOWN_DRAIN_MS: '250',
      STREAMING: 'false',
    });
    expect(c.http.port).toBe(0);
    expect(c.foundry).toMatchObject({ timeoutMs: 1000, idleTimeoutMs: 500, maxRetries: 0 });
    expect(c.policy).toMatchObject({
      approvalTtlMs: 60_000,
      consentTtlMs: 120_000,
      dedupeTtlMs: 180_000,
      maxQueuedTurns: 0,
      streaming: false,
    });
    expect(c.shutdownDrainMs).toBe(250);
    expect(loadConfig({ ...DEV, STREAMING: 'YES' }).policy.streaming).toBe(true);
  });

  it('a trailing slash of URLs is dropped', () => {
    expect(
      loadConfig({ ...DEV, FOUNDRY_PROJECT_ENDPOINT: 'https://x/api/projects/p//' }).foundry.projectEndpoint,
    ).toBe('https://x/api/projects/p');
  });

  it('SingleTenant bots allow their own tenant by default; ALLOWED_TENANTS overrides it', () => {
    const single = { ...DEV, BOT_TYPE: 'SingleTenant', BOT_TENANT_ID: TENANT.toUpperCase() };
    expect(loadConfig(single).bot.allowedTenants).toEqual([TENANT]);
    expect(loadConfig({ ...single, ALLOWED_TENANTS: GUID }).bot.allowedTenants).toEqual([GUID]);
    expect(loadConfig({ ...DEV, BOT_TENANT_ID: TENANT }).bot.allowedTenants).toEqual([]);
  });

  it('blob storage carries its settings', () => {
    expect(
      loadConfig({ ...DEV, STORAGE: 'blob', BLOB_CONNECTION_STRING: 'UseDevelopmentStorage=true' }).storage,
    ).toEqual({
      kind: 'blob',
      connectionString: 'UseDevelopmentStorage=true',
      accountUrl: undefined,
      container: 'botstate',
      timeoutMs: 3000,
    });
  });

  it('STORAGE_TIMEOUT_MS sets the deadline of one storage call (default 3 s, 0.5–30 s)', () => {
    const blob = { ...DEV, STORAGE: 'blob', BLOB_CONNECTION_STRING: 'UseDevelopmentStorage=true' };
    const timeoutOf = (v?: string): unknown => {
      const s = loadConfig(v === undefined ? blob : { ...blob, STORAGE_TIMEOUT_MS: v }).storage;
      return s.kind === 'blob' ? s.timeoutMs : undefined;
    };
    expect(timeoutOf()).toBe(3000);
    expect(timeoutOf('')).toBe(3000);
    expect(timeoutOf('500')).toBe(500);
    expect(timeoutOf('8000')).toBe(8000);
    expect(failure({ ...blob, STORAGE_TIMEOUT_MS: '499' }).message).toContain(
      'STORAGE_TIMEOUT_MS is too small',
    );
    expect(failure({ ...blob, STORAGE_TIMEOUT_MS: '30001' }).message).toContain(
      'STORAGE_TIMEOUT_MS is too large',
    );
  });
});

/** [key, bad value (with the canary where the type allows), extra env] → refused, naming the key. */
const INVALID: Array<[string, string, Record<string, string>]> = [
  ['NODE_ENV', `${CANARY}-staging`, {}],
  ['PORT', `${CANARY}`, {}],
  ['PORT', '70000', {}],
  ['LOG_LEVEL', `${CANARY}-verbose`, {}],
  ['BOT_ID', `${CANARY}-not-a-guid`, {}],
  ['BOT_TYPE', `${CANARY}-Tenant`, {}],
  ['BOT_TENANT_ID', `${CANARY}`, {}],
  ['BOT_OPENID_METADATA_URL', `${CANARY}-not-a-url`, {}],
  ['BOT_OPENID_METADATA_URL', `ftp://${CANARY}.example/openid`, {}],
  ['ALLOWED_TENANTS', `${TENANT},${CANARY}`, {}],
  ['OUTBOUND_HOSTS', `https://${CANARY}.example`, {}],
  ['FOUNDRY_PROJECT_ENDPOINT', `${CANARY}`, {}],
  ['FOUNDRY_AGENT_NAME', 'x'.repeat(300), {}],
  ['FOUNDRY_AGENT_VERSION', `${CANARY}`.repeat(10), {}],
  ['FOUNDRY_THREADING', `${CANARY}`, {}],
  ['FOUNDRY_AUTH', `${CANARY}`, {}],
  ['FOUNDRY_CREDENTIAL', `${CANARY}`, {}],
  ['AZURE_AUTHORITY_HOST', `${CANARY}`, {}],
  ['FOUNDRY_TIMEOUT_MS', `${CANARY}`, {}],
  ['FOUNDRY_TIMEOUT_MS', '-5', {}],
  ['FOUNDRY_IDLE_TIMEOUT_MS', '1.5', {}],
  ['FOUNDRY_MAX_RETRIES', '9', {}],
  ['CONSENT_LINK_HOSTS', `https://${CANARY}.example/path`, {}],
  ['CONSENT_LINK_HOSTS', ',', {}],
  ['APPROVAL_TTL_MINUTES', '0', {}],
  ['CONSENT_TTL_MINUTES', `${CANARY}`, {}],
  ['MAX_QUEUED_TURNS', '21', {}],
  ['DEDUPE_TTL_MINUTES', '-1', {}],
  ['SHUTDOWN_DRAIN_MS', `${CANARY}`, {}],
  ['WELCOME_PROMPTS', `${CANARY}${'x'.repeat(120)}`, {}],
  ['STORAGE', `${CANARY}`, {}],
  ['BLOB_ACCOUNT_URL', `${CANARY}`, { STORAGE: 'blob' }],
  ['BLOB_CONTAINER', `${CANARY}--Bad`, {}],
  ['STORAGE_TIMEOUT_MS', `${CANARY}`, {}],
  ['STORAGE_TIMEOUT_MS', '2.5', {}],
  // Cross-key rules.
  ['BOT_PASSWORD', '', { BOT_ID: GUID, NODE_ENV: 'test' }],
  ['BOT_TENANT_ID', '', { BOT_TYPE: 'SingleTenant' }],
  ['BLOB_CONNECTION_STRING', '', { STORAGE: 'blob' }],
  [
    'AAD_APP_CLIENT_ID',
    '',
    { FOUNDRY_AUTH: 'user', AAD_APP_CLIENT_SECRET: `${CANARY}`, AAD_APP_TENANT_ID: TENANT },
  ],
  ['AAD_APP_CLIENT_SECRET', '', { FOUNDRY_AUTH: 'user', AAD_APP_CLIENT_ID: 'x', AAD_APP_TENANT_ID: TENANT }],
  [
    'AAD_APP_TENANT_ID',
    '',
    { FOUNDRY_AUTH: 'user', AAD_APP_CLIENT_ID: 'x', AAD_APP_CLIENT_SECRET: `${CANARY}` },
  ],
  ['AZURE_CLIENT_SECRET', '', { FOUNDRY_CREDENTIAL: 'client_secret', AZURE_CLIENT_ID: `${CANARY}` }],
];

describe('every key is validated; the message names the key, never the value', () => {
  it.each(INVALID)('%s: bad value #%# is refused', (key, value, extra) => {
    const e = failure({ ...DEV, ...extra, [key]: value });
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message).toContain(key);
    expect((e.details['keys'] as string[]).some((k) => k === key || k.startsWith(`${key}.`))).toBe(true);
    expect(e.message).not.toContain(CANARY);
    expect(JSON.stringify(e)).not.toContain(CANARY);
  });

  it('BOT_ID is required outside development (empty app id = authentication off)', () => {
    expect(failure({ ...DEV, NODE_ENV: 'test' }).message).toMatch(
      /BOT_ID is required unless NODE_ENV=development/,
    );
    expect(loadConfig({ ...DEV, NODE_ENV: 'test', BOT_ID: GUID, BOT_PASSWORD: 'x' }).bot.appId).toBe(GUID);
    expect(
      loadConfig({ ...DEV, NODE_ENV: 'test', BOT_ID: GUID, BOT_TYPE: 'UserAssignedMsi' }).bot.appPassword,
    ).toBeUndefined();
  });

  it('reports every per-key problem at once; cross-key rules follow once the keys themselves are valid', () => {
    const e = failure({ NODE_ENV: 'production', PORT: 'x', LOG_LEVEL: 'loud' });
    for (const key of ['PORT', 'LOG_LEVEL', 'FOUNDRY_PROJECT_ENDPOINT', 'FOUNDRY_AGENT_NAME'])
      expect(e.message).toContain(key);
    // zod runs the cross-key rules (superRefine) only on a structurally valid environment.
    expect(e.message).not.toContain('BOT_ID');
    const next = failure({ ...PROD, BOT_ID: '', STORAGE: 'memory' });
    expect(next.message).toContain('BOT_ID');
    expect(next.message).toContain('STORAGE');
  });

  it('messages read well: numbers are too large/small, strings too long, "an integer"', () => {
    expect(failure({ ...DEV, PORT: '70000' }).message).toContain('PORT is too large');
    expect(failure({ ...DEV, APPROVAL_TTL_MINUTES: '0' }).message).toContain(
      'APPROVAL_TTL_MINUTES is too small',
    );
    expect(failure({ ...DEV, FOUNDRY_AGENT_NAME: 'x'.repeat(300) }).message).toContain(
      'FOUNDRY_AGENT_NAME is too long',
    );
    expect(failure({ ...DEV, FOUNDRY_IDLE_TIMEOUT_MS: '1.5' }).message).toContain(
      'FOUNDRY_IDLE_TIMEOUT_MS must be an integer',
    );
    expect(
      failure({ ...DEV, WELCOME_PROMPTS: Array.from({ length: 11 }, (_, i) => `p${i}`).join(',') }).message,
    ).toContain('WELCOME_PROMPTS lists too many entries');
  });
});

describe('production refusals', () => {
  it('the production baseline itself is accepted, without loopback outbound hosts', () => {
    const c = loadConfig(PROD);
    expect(c.env).toBe('production');
    expect(c.bot.outboundHosts).toEqual([...DEFAULT_OUTBOUND_HOSTS]);
  });

  const REFUSED: Array<[string, Record<string, string>]> = [
    ['BOT_ID', { BOT_ID: '' }],
    ['STORAGE', { STORAGE: 'memory' }],
    ['BOT_OPENID_METADATA_URL', { BOT_OPENID_METADATA_URL: `http://127.0.0.1:9/${CANARY}` }],
    [
      'BOT_OPENID_METADATA_URL',
      { BOT_OPENID_METADATA_URL: `https://${CANARY}.example/v1/.well-known/openidconfiguration` },
    ],
    ['AZURE_AUTHORITY_HOST', { AZURE_AUTHORITY_HOST: `https://${CANARY}.example` }],
    ['FOUNDRY_PROJECT_ENDPOINT', { FOUNDRY_PROJECT_ENDPOINT: `http://${CANARY}.example/api/projects/p` }],
    ['OUTBOUND_HOSTS', { OUTBOUND_HOSTS: 'localhost' }],
    ['OUTBOUND_HOSTS', { OUTBOUND_HOSTS: '127.0.0.1' }],
    ['OUTBOUND_HOSTS', { OUTBOUND_HOSTS: '[::1]' }],
    ['CONSENT_LINK_HOSTS', { CONSENT_LINK_HOSTS: 'localhost' }],
    ['CONSENT_LINK_HOSTS', { CONSENT_LINK_HOSTS: '127.0.0.1' }],
    ['CONSENT_LINK_HOSTS', { CONSENT_LINK_HOSTS: `${CANARY}.example:8443` }],
  ];
  it.each(REFUSED)('%s refused in production (%j)', (key, env) => {
    const e = failure({ ...PROD, ...env });
    expect(e.message).toContain(key);
    expect(e.message).not.toContain(CANARY);
  });

  it('the same values are accepted outside production (the test seams)', () => {
    const c = loadConfig({
      ...PROD,
      NODE_ENV: 'test',
      STORAGE: 'memory',
      BOT_OPENID_METADATA_URL: 'http://127.0.0.1:9/openid',
      CONSENT_LINK_HOSTS: '127.0.0.1:8443',
      OUTBOUND_HOSTS: 'localhost',
      AZURE_AUTHORITY_HOST: 'http://127.0.0.1:7000',
    });
    expect(c.bot.openIdMetadataUrl).toBe('http://127.0.0.1:9/openid');
    expect(c.bot.outboundHosts).toContain('127.0.0.1');
  });

  it('production accepts the official OpenID URL, the official authority and memory storage when explicitly allowed', () => {
    const c = loadConfig({
      ...PROD,
      BOT_OPENID_METADATA_URL: 'https://login.botframework.com/v1/.well-known/openidconfiguration',
      AZURE_AUTHORITY_HOST: 'https://login.microsoftonline.com',
      STORAGE: 'memory',
      ALLOW_MEMORY_STORAGE_IN_PRODUCTION: 'true',
    });
    expect(c.storage.kind).toBe('memory');
  });
});

describe('configSecrets', () => {
  it('lists the secret values the logger must scrub', () => {
    const c = loadConfig({
      ...PROD,
      FOUNDRY_CREDENTIAL: 'client_secret',
      AZURE_CLIENT_ID: 'id',
      AZURE_TENANT_ID: TENANT,
      AZURE_CLIENT_SECRET: 'azure-secret',
      FOUNDRY_AUTH: 'user',
      AAD_APP_CLIENT_ID: 'sso',
      AAD_APP_CLIENT_SECRET: 'sso-secret',
      AAD_APP_TENANT_ID: TENANT,
    });
    expect(configSecrets(c)).toEqual([`${CANARY}-pw`, 'azure-secret', 'sso-secret']);
    expect(configSecrets(loadConfig(DEV))).toEqual([]);
  });
});

describe('telemetry keys', () => {
  const CS = `InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://${CANARY}.in.applicationinsights.azure.com/`;

  it('are off by default', () => {
    expect(loadConfig(DEV).telemetry).toEqual({ connectionString: undefined, otlpEndpoint: undefined });
  });

  it('read APPLICATIONINSIGHTS_CONNECTION_STRING and OTEL_EXPORTER_OTLP_ENDPOINT (trailing / dropped)', () => {
    const c = loadConfig({
      ...DEV,
      APPLICATIONINSIGHTS_CONNECTION_STRING: CS,
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318/',
    });
    expect(c.telemetry).toEqual({ connectionString: CS, otlpEndpoint: 'http://127.0.0.1:4318' });
    expect(Object.isFrozen(c.telemetry)).toBe(true);
  });

  it('the connection string is a secret the logger scrubs, and a bad one is refused without its value', () => {
    expect(configSecrets(loadConfig({ ...DEV, APPLICATIONINSIGHTS_CONNECTION_STRING: CS }))).toEqual([CS]);
    const err = failure({
      ...DEV,
      APPLICATIONINSIGHTS_CONNECTION_STRING: `${CANARY}-not-a-connection-string`,
    });
    expect(err.message).toContain('APPLICATIONINSIGHTS_CONNECTION_STRING');
    expect(err.message).not.toContain(CANARY);
  });

  it('refuses an OTLP endpoint that is not an http(s) URL, naming the key only', () => {
    const err = failure({ ...DEV, OTEL_EXPORTER_OTLP_ENDPOINT: `ftp://${CANARY}` });
    expect(err.message).toContain('OTEL_EXPORTER_OTLP_ENDPOINT');
    expect(err.message).not.toContain(CANARY);
  });
});
