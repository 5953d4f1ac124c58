import type { z } from 'zod';
import { BotError } from '../errors';
import { DEFAULT_OUTBOUND_HOSTS, EnvSchema, type Env } from './env-schema';

/**
 * The one reader of process.env for the bot (docs/conventions.md C8). `loadConfig` validates every key once at
 * start-up and returns a frozen object. An invalid key stops start-up with a message that names the key and
 * the reason, never its value.
 */

type Threading = 'previous_response' | 'conversation';
type IdentityMode = 'app' | 'user';

/** The validated, frozen configuration of the bot. */
export interface Config {
  readonly env: 'development' | 'test' | 'production';
  readonly http: { readonly port: number; readonly host: string };
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
  readonly bot: {
    /** Empty only in development: then inbound authentication is off (a loud warning is logged). */
    readonly appId: string | undefined;
    readonly appPassword: string | undefined;
    readonly appType: 'MultiTenant' | 'SingleTenant' | 'UserAssignedMsi';
    readonly tenantId: string | undefined;
    readonly openIdMetadataUrl: string | undefined;
    /** Tenants whose users may talk to the bot; empty = any (MultiTenant without ALLOWED_TENANTS). */
    readonly allowedTenants: readonly string[];
    /** Hosts (and their subdomains) that replies may be sent to. */
    readonly outboundHosts: readonly string[];
  };
  readonly foundry: {
    readonly projectEndpoint: string;
    readonly agentName: string;
    readonly agentVersion: string | undefined;
    readonly threading: Threading;
    readonly auth: IdentityMode;
    readonly credential: 'default' | 'managed_identity' | 'workload_identity' | 'client_secret' | 'azure_cli';
    readonly azureClientId: string | undefined;
    readonly azureTenantId: string | undefined;
    readonly azureClientSecret: string | undefined;
    readonly authorityHost: string | undefined;
    readonly timeoutMs: number;
    readonly idleTimeoutMs: number;
    readonly maxRetries: number;
    readonly busyRetries: number;
    readonly busyRetryDelayMs: number;
  };
  readonly sso: {
    readonly clientId: string | undefined;
    readonly clientSecret: string | undefined;
    readonly tenantId: string | undefined;
    /** Base URL of the bot's sign-in pages (`https://<BOT_DOMAIN>`); unset: the bot's own listening URL. */
    readonly pagesBaseUrl: string | undefined;
  };
  readonly policy: {
    readonly consentLinkHosts: readonly string[];
    readonly sharedConsentAdmins: readonly string[];
    readonly approvers: readonly string[];
    readonly approvalTtlMs: number;
    readonly consentTtlMs: number;
    readonly maxQueuedTurns: number;
    readonly dedupeTtlMs: number;
    readonly streaming: boolean;
    readonly welcomePrompts: readonly string[];
  };
  readonly shutdownDrainMs: number;
  /** OpenTelemetry export (README "Operating it"): off when neither is set. */
  readonly telemetry: {
    readonly connectionString: string | undefined;
    readonly otlpEndpoint: string | undefined;
  };
  readonly storage:
    | { readonly kind: 'memory' }
    | {
        readonly kind: 'blob';
        readonly connectionString: string | undefined;
        readonly accountUrl: string | undefined;
        readonly container: string;
        /** Deadline of one storage call, SDK retries included. */
        readonly timeoutMs: number;
      };
}

function toConfig(e: Env): Config {
  const allowedTenants =
    e.ALLOWED_TENANTS ?? (e.BOT_TYPE === 'SingleTenant' && e.BOT_TENANT_ID ? [e.BOT_TENANT_ID] : []);
  const outbound = [...DEFAULT_OUTBOUND_HOSTS, ...(e.OUTBOUND_HOSTS ?? [])];
  if (e.NODE_ENV !== 'production') outbound.push('localhost', '127.0.0.1', '[::1]');
  return {
    env: e.NODE_ENV,
    http: { port: e.PORT, host: e.HOST },
    logLevel: e.LOG_LEVEL,
    bot: {
      appId: e.BOT_ID,
      appPassword: e.BOT_PASSWORD,
      appType: e.BOT_TYPE,
      tenantId: e.BOT_TENANT_ID,
      openIdMetadataUrl: e.BOT_OPENID_METADATA_URL,
      allowedTenants: allowedTenants.map((t) => t.toLowerCase()),
      outboundHosts: outbound,
    },
    foundry: {
      projectEndpoint: e.FOUNDRY_PROJECT_ENDPOINT,
      agentName: e.FOUNDRY_AGENT_NAME,
      agentVersion: e.FOUNDRY_AGENT_VERSION,
      threading: e.FOUNDRY_THREADING,
      auth: e.FOUNDRY_AUTH,
      credential: e.FOUNDRY_CREDENTIAL,
      azureClientId: e.AZURE_CLIENT_ID,
      azureTenantId: e.AZURE_TENANT_ID,
      azureClientSecret: e.AZURE_CLIENT_SECRET,
      authorityHost: e.AZURE_AUTHORITY_HOST,
      timeoutMs: e.FOUNDRY_TIMEOUT_MS,
      idleTimeoutMs: e.FOUNDRY_IDLE_TIMEOUT_MS,
      maxRetries: e.FOUNDRY_MAX_RETRIES,
      busyRetries: e.FOUNDRY_BUSY_RETRIES,
      busyRetryDelayMs: e.FOUNDRY_BUSY_RETRY_MS,
    },
    sso: {
      clientId: e.AAD_APP_CLIENT_ID,
      clientSecret: e.AAD_APP_CLIENT_SECRET,
      tenantId: e.AAD_APP_TENANT_ID,
      pagesBaseUrl: e.BOT_DOMAIN ? `https://${e.BOT_DOMAIN}` : undefined,
    },
    policy: {
      consentLinkHosts: e.CONSENT_LINK_HOSTS,
      sharedConsentAdmins: e.SHARED_CONSENT_ADMINS.map((s) => s.toLowerCase()),
      approvers: e.APPROVERS.map((s) => s.toLowerCase()),
      approvalTtlMs: e.APPROVAL_TTL_MINUTES * 60_000,
      consentTtlMs: e.CONSENT_TTL_MINUTES * 60_000,
      maxQueuedTurns: e.MAX_QUEUED_TURNS,
      dedupeTtlMs: e.DEDUPE_TTL_MINUTES * 60_000,
      streaming: e.STREAMING,
      welcomePrompts: e.WELCOME_PROMPTS,
    },
    shutdownDrainMs: e.SHUTDOWN_DRAIN_MS,
    telemetry: {
      connectionString: e.APPLICATIONINSIGHTS_CONNECTION_STRING,
      otlpEndpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT,
    },
    storage:
      e.STORAGE === 'memory'
        ? { kind: 'memory' }
        : {
            kind: 'blob',
            connectionString: e.BLOB_CONNECTION_STRING,
            accountUrl: e.BLOB_ACCOUNT_URL,
            container: e.BLOB_CONTAINER,
            timeoutMs: e.STORAGE_TIMEOUT_MS,
          },
  };
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o as Record<string, unknown>)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** zod's default messages can quote the received value (e.g. bad enum values); ours never do. */
function describeIssue(i: z.ZodIssue): string {
  switch (i.code) {
    case 'invalid_enum_value':
      return `must be one of ${i.options.map(String).join(' | ')}`;
    case 'invalid_type':
      return i.received === 'undefined'
        ? 'is required'
        : `must be ${/^[aeiou]/.test(i.expected) ? 'an' : 'a'} ${i.expected}`;
    case 'too_small':
      return i.type === 'array'
        ? 'must list at least one entry'
        : i.type === 'number'
          ? 'is too small'
          : 'is too short';
    case 'too_big':
      return i.type === 'array'
        ? 'lists too many entries'
        : i.type === 'number'
          ? 'is too large'
          : 'is too long';
    default:
      return i.message;
  }
}

/**
 * Reads and validates the environment. Throws `BotError('CONFIG_INVALID')` whose message lists every bad key
 * with its reason (never a value).
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  const r = EnvSchema.safeParse(env);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.join('.') || '(root)'} ${describeIssue(i)}`);
    throw new BotError('CONFIG_INVALID', `invalid configuration: ${problems.join('; ')}`, {
      details: { keys: r.error.issues.map((i) => i.path.join('.')) },
    });
  }
  return deepFreeze(toConfig(r.data));
}

/** Secret values from the configuration, for the logger's scrubber. */
export function configSecrets(c: Config): string[] {
  return [
    c.bot.appPassword,
    c.foundry.azureClientSecret,
    c.sso.clientSecret,
    c.telemetry.connectionString,
  ].filter((s): s is string => typeof s === 'string' && s.length > 0);
}
