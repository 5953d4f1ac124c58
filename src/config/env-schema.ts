import { z } from 'zod';

/**
 * The environment the bot reads, as one zod schema: every key, its default, its bounds, and the rules that
 * tie keys together (production refusals, user-mode and client-secret requirements). config.ts turns a parsed
 * environment into the frozen `Config`.
 */

const OFFICIAL_OPENID_METADATA = 'https://login.botframework.com/v1/.well-known/openidconfiguration';
/** Foundry consent hosts seen in the wild (docs/foundry-wire.md §4.6); subdomains of these are accepted. */
export const DEFAULT_CONSENT_LINK_HOSTS = ['consent.azure-apihub.net', 'consent.azure-apim.net'] as const;
/** Bot Framework / Teams service URL hosts replies may go to (docs/reliability.md §2.1 outbound SSRF). */
export const DEFAULT_OUTBOUND_HOSTS = [
  'smba.trafficmanager.net',
  'botframework.com',
  'botframework.azure.us',
  'botframework.us',
  'teams.microsoft.com',
] as const;

const csv = (v: unknown): unknown =>
  typeof v === 'string'
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0)
    : v;
const emptyToUndefined = (v: unknown): unknown => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const bool = z.preprocess(
  (v) => (typeof v === 'string' ? ['1', 'true', 'yes'].includes(v.trim().toLowerCase()) : v),
  z.boolean(),
);
const guid = z
  .string()
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'must be a GUID');
const hostname = z
  .string()
  .regex(/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/i, 'must be a host name (optionally with :port)')
  .transform((h) => h.toLowerCase());
const httpUrl = z
  .string()
  .url('must be a URL')
  .refine((u) => /^https?:\/\//i.test(u), 'must start with http:// or https://')
  .transform((u) => u.replace(/\/+$/, ''));
const positiveInt = (def: number) =>
  z.coerce.number().int('must be a whole number').positive('must be positive').default(def);

export const EnvSchema = z
  .object({
    NODE_ENV: z.preprocess(
      emptyToUndefined,
      z.enum(['development', 'test', 'production']).default('production'),
    ),
    PORT: z.preprocess(emptyToUndefined, z.coerce.number().int().min(0).max(65535).default(3978)),
    HOST: z.preprocess(emptyToUndefined, z.string().default('0.0.0.0')),
    LOG_LEVEL: z.preprocess(emptyToUndefined, z.enum(['debug', 'info', 'warn', 'error']).default('info')),

    BOT_ID: z.preprocess(emptyToUndefined, guid.optional()),
    BOT_PASSWORD: z.preprocess(emptyToUndefined, z.string().optional()),
    BOT_TYPE: z.preprocess(
      emptyToUndefined,
      z.enum(['MultiTenant', 'SingleTenant', 'UserAssignedMsi']).default('MultiTenant'),
    ),
    BOT_TENANT_ID: z.preprocess(emptyToUndefined, guid.optional()),
    /** Test seam: where inbound Bot Framework tokens' keys come from. Production refuses anything but the official URL. */
    BOT_OPENID_METADATA_URL: z.preprocess(emptyToUndefined, httpUrl.optional()),
    ALLOWED_TENANTS: z.preprocess(csv, z.array(guid).optional()),
    OUTBOUND_HOSTS: z.preprocess(csv, z.array(hostname).optional()),

    FOUNDRY_PROJECT_ENDPOINT: z.preprocess(emptyToUndefined, httpUrl),
    FOUNDRY_AGENT_NAME: z.preprocess(emptyToUndefined, z.string().min(1).max(256)),
    FOUNDRY_AGENT_VERSION: z.preprocess(emptyToUndefined, z.string().min(1).max(64).optional()),
    FOUNDRY_THREADING: z.preprocess(
      emptyToUndefined,
      z.enum(['previous_response', 'conversation']).default('previous_response'),
    ),
    FOUNDRY_AUTH: z.preprocess(emptyToUndefined, z.enum(['app', 'user']).default('app')),
    /** How the bot authenticates as itself (app mode): `default` is DefaultAzureCredential's order. */
    FOUNDRY_CREDENTIAL: z.preprocess(
      emptyToUndefined,
      z
        .enum(['default', 'managed_identity', 'workload_identity', 'client_secret', 'azure_cli'])
        .default('default'),
    ),
    /** User-assigned managed identity client id (also read by DefaultAzureCredential as AZURE_CLIENT_ID). */
    AZURE_CLIENT_ID: z.preprocess(emptyToUndefined, z.string().optional()),
    AZURE_TENANT_ID: z.preprocess(emptyToUndefined, z.string().optional()),
    AZURE_CLIENT_SECRET: z.preprocess(emptyToUndefined, z.string().optional()),
    /** Entra authority host for on-behalf-of (user mode). Production refuses anything but login.microsoftonline.com. */
    AZURE_AUTHORITY_HOST: z.preprocess(emptyToUndefined, httpUrl.optional()),
    /** Entra app used for Teams SSO (user mode): its id, secret and tenant. */
    AAD_APP_CLIENT_ID: z.preprocess(emptyToUndefined, z.string().optional()),
    AAD_APP_CLIENT_SECRET: z.preprocess(emptyToUndefined, z.string().optional()),
    AAD_APP_TENANT_ID: z.preprocess(emptyToUndefined, z.string().optional()),
    /** The bot's public host name (user mode: the sign-in pages are https://<BOT_DOMAIN>/auth/…). */
    BOT_DOMAIN: z.preprocess(
      emptyToUndefined,
      z
        .string()
        .regex(/^[a-z0-9.-]+(:\d+)?$/i)
        .optional(),
    ),
    FOUNDRY_TIMEOUT_MS: z.preprocess(emptyToUndefined, positiveInt(45_000)),
    /**
     * Longest silence between two SSE events. Foundry lets an MCP tool call run for about 100 s, and the
     * stream is silent meanwhile (foundry-wire.md §7.2), so the default leaves room for that: 120 s.
     */
    FOUNDRY_IDLE_TIMEOUT_MS: z.preprocess(emptyToUndefined, positiveInt(120_000)),
    FOUNDRY_MAX_RETRIES: z.preprocess(emptyToUndefined, z.coerce.number().int().min(0).max(5).default(2)),
    /** Re-sends of a turn Foundry refused as busy (`conversation_locked`); nothing was processed. */
    FOUNDRY_BUSY_RETRIES: z.preprocess(emptyToUndefined, z.coerce.number().int().min(0).max(10).default(3)),
    /** First wait before such a re-send, doubled each time. */
    FOUNDRY_BUSY_RETRY_MS: z.preprocess(emptyToUndefined, positiveInt(2_000)),

    CONSENT_LINK_HOSTS: z.preprocess(
      csv,
      z
        .array(hostname)
        .min(1)
        .default([...DEFAULT_CONSENT_LINK_HOSTS]),
    ),
    SHARED_CONSENT_ADMINS: z.preprocess(csv, z.array(z.string().min(1)).default([])),
    APPROVERS: z.preprocess(csv, z.array(z.string().min(1)).default([])),
    APPROVAL_TTL_MINUTES: z.preprocess(emptyToUndefined, positiveInt(15)),
    CONSENT_TTL_MINUTES: z.preprocess(emptyToUndefined, positiveInt(30)),
    MAX_QUEUED_TURNS: z.preprocess(emptyToUndefined, z.coerce.number().int().min(0).max(20).default(2)),
    DEDUPE_TTL_MINUTES: z.preprocess(emptyToUndefined, positiveInt(15)),
    SHUTDOWN_DRAIN_MS: z.preprocess(emptyToUndefined, positiveInt(10_000)),
    /** Example prompts listed in the welcome and /help messages (comma-separated). */
    WELCOME_PROMPTS: z.preprocess(csv, z.array(z.string().min(1).max(100)).max(10).default([])),
    /** Streaming into 1:1 chats; `false` sends one final message everywhere. */
    STREAMING: z.preprocess(emptyToUndefined, bool.default(true)),

    STORAGE: z.preprocess(emptyToUndefined, z.enum(['memory', 'blob']).default('memory')),
    ALLOW_MEMORY_STORAGE_IN_PRODUCTION: z.preprocess(emptyToUndefined, bool.default(false)),
    BLOB_CONNECTION_STRING: z.preprocess(emptyToUndefined, z.string().optional()),
    BLOB_ACCOUNT_URL: z.preprocess(emptyToUndefined, httpUrl.optional()),
    /** Deadline of one state-store call, SDK retries included (docs/storage.md "When storage hangs or fails"). */
    STORAGE_TIMEOUT_MS: z.preprocess(
      emptyToUndefined,
      z.coerce
        .number()
        .int('must be a whole number')
        .min(500, 'must be at least 500')
        .max(30_000, 'must be at most 30000')
        .default(3_000),
    ),
    BLOB_CONTAINER: z.preprocess(
      emptyToUndefined,
      z
        .string()
        .regex(/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/, 'must be a valid container name')
        .default('botstate'),
    ),

    /** Azure Monitor (Application Insights): exports traces, metrics and logs. Secret-ish: never logged. */
    APPLICATIONINSIGHTS_CONNECTION_STRING: z.preprocess(
      emptyToUndefined,
      z
        .string()
        .regex(/(^|;)\s*InstrumentationKey=[^;]+/i, 'must be an Application Insights connection string')
        .optional(),
    ),
    /** An OpenTelemetry collector (OTLP over HTTP): exports traces, metrics and logs. */
    OTEL_EXPORTER_OTLP_ENDPOINT: z.preprocess(emptyToUndefined, httpUrl.optional()),
  })
  .superRefine((e, ctx) => {
    const issue = (path: string, message: string): void =>
      ctx.addIssue({ code: 'custom', path: [path], message });
    const prod = e.NODE_ENV === 'production';
    if (!e.BOT_ID && e.NODE_ENV !== 'development')
      issue(
        'BOT_ID',
        'is required unless NODE_ENV=development (an empty BOT_ID turns inbound authentication off)',
      );
    if (e.BOT_ID && e.BOT_TYPE !== 'UserAssignedMsi' && !e.BOT_PASSWORD)
      issue('BOT_PASSWORD', 'is required when BOT_ID is set, unless BOT_TYPE=UserAssignedMsi');
    if (e.BOT_TYPE === 'SingleTenant' && !e.BOT_TENANT_ID)
      issue('BOT_TENANT_ID', 'is required when BOT_TYPE=SingleTenant');
    if (prod && e.BOT_OPENID_METADATA_URL && e.BOT_OPENID_METADATA_URL !== OFFICIAL_OPENID_METADATA)
      issue('BOT_OPENID_METADATA_URL', 'must be unset (or the official Bot Framework URL) in production');
    if (
      prod &&
      e.AZURE_AUTHORITY_HOST &&
      !/^https:\/\/login\.microsoftonline\.(com|us)$/i.test(e.AZURE_AUTHORITY_HOST)
    )
      issue('AZURE_AUTHORITY_HOST', 'must be an official Entra authority in production');
    if (prod && !e.FOUNDRY_PROJECT_ENDPOINT.startsWith('https://'))
      issue('FOUNDRY_PROJECT_ENDPOINT', 'must use https in production');
    if (prod && e.STORAGE === 'memory' && !e.ALLOW_MEMORY_STORAGE_IN_PRODUCTION)
      issue(
        'STORAGE',
        'memory storage loses pending approvals on restart; use STORAGE=blob in production (or set ALLOW_MEMORY_STORAGE_IN_PRODUCTION=true)',
      );
    if (e.STORAGE === 'blob' && !e.BLOB_CONNECTION_STRING && !e.BLOB_ACCOUNT_URL)
      issue('BLOB_CONNECTION_STRING', 'or BLOB_ACCOUNT_URL is required when STORAGE=blob');
    if (prod && e.OUTBOUND_HOSTS?.some((h) => /^(localhost|127\.|\[::1\])/.test(h)))
      issue('OUTBOUND_HOSTS', 'must not name loopback hosts in production');
    if (prod && e.CONSENT_LINK_HOSTS.some((h) => /^(localhost|127\.|\[::1\])/.test(h) || h.includes(':')))
      issue('CONSENT_LINK_HOSTS', 'must name https hosts only (no loopback, no ports) in production');
    if (e.FOUNDRY_AUTH === 'user') {
      if (!e.AAD_APP_CLIENT_ID)
        issue('AAD_APP_CLIENT_ID', 'is required when FOUNDRY_AUTH=user (Teams SSO app)');
      if (!e.AAD_APP_CLIENT_SECRET)
        issue('AAD_APP_CLIENT_SECRET', 'is required when FOUNDRY_AUTH=user (on-behalf-of exchange)');
      if (!e.AAD_APP_TENANT_ID) issue('AAD_APP_TENANT_ID', 'is required when FOUNDRY_AUTH=user');
    }
    if (
      e.FOUNDRY_CREDENTIAL === 'client_secret' &&
      (!e.AZURE_CLIENT_ID || !e.AZURE_TENANT_ID || !e.AZURE_CLIENT_SECRET)
    )
      issue(
        'AZURE_CLIENT_SECRET',
        'FOUNDRY_CREDENTIAL=client_secret needs AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET',
      );
  });

export type Env = z.infer<typeof EnvSchema>;
