import type { Config } from '../../config/config';
import { userMessageFor } from '../../errors';
import { checkConsentLink } from '../../relay/consent/link';
import { fail, info, pass, warn, type Finding } from './report';

/**
 * Check 4 (the consent-link hosts the bot accepts, and what happens to a link elsewhere) and check 7 (user
 * mode: the SSO app's settings agree with each other and the authority is allowed). Pure: no I/O.
 */

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const OFFICIAL_AUTHORITY = /^https:\/\/login\.microsoftonline\.(com|us)$/i;

/** Check 4, run against the bot's own link policy (src/relay/consent/link.ts). */
export function checkConsentHosts(config: Config): Finding[] {
  const hosts = config.policy.consentLinkHosts;
  const out: Finding[] = [];
  const sample = (h: string): string =>
    /^(localhost|127\.|\[::1\])/.test(h) ? `http://${h}/consent` : `https://${h}/consent`;
  const refused = hosts.filter((h) => !checkConsentLink(sample(h), hosts).ok);
  const outsider = checkConsentLink('https://consent.example.invalid/login', hosts);
  if (refused.length > 0)
    out.push(
      fail(
        'consent-links',
        'consent.host_unusable',
        `CONSENT_LINK_HOSTS entries that can never match a link: ${refused.join(', ')}`,
        'List plain https host names (no scheme, path or port), e.g. consent.azure-apihub.net.',
      ),
    );
  out.push(
    pass(
      'consent-links',
      `consent links are shown only for https hosts ${hosts.join(', ')} and their subdomains; ` +
        `any other link is ${outsider.ok ? 'ACCEPTED (unexpected)' : `refused (${outsider.reason})`}: the user sees "${userMessageFor('CONSENT_LINK_REJECTED')}" and the host is logged`,
    ),
  );
  if (hosts.some((h) => h.includes(':')))
    out.push(
      info(
        'consent-links',
        'loopback consent hosts with a port are allowed (development: the local emulator)',
      ),
    );
  return out;
}

/** Check 7. */
export function checkUserMode(config: Config): Finding[] {
  const CHECK = 'user-mode';
  if (config.foundry.auth !== 'user')
    return [info(CHECK, 'FOUNDRY_AUTH=app: Foundry sees the bot; Teams SSO is not used (docs/identity.md)')];
  const { clientId, tenantId } = config.sso;
  const out: Finding[] = [];
  if (!clientId || !GUID.test(clientId))
    out.push(
      fail(
        CHECK,
        'sso.client_id',
        'AAD_APP_CLIENT_ID is not a GUID',
        "Set AAD_APP_CLIENT_ID to the SSO app registration's Application (client) id = the manifest's webApplicationInfo.id.",
      ),
    );
  if (!tenantId || !GUID.test(tenantId))
    out.push(
      fail(
        CHECK,
        'sso.tenant_id',
        'AAD_APP_TENANT_ID is not a tenant GUID',
        'Set AAD_APP_TENANT_ID to the Directory (tenant) id of the Foundry project (cross-tenant exchange is not supported).',
      ),
    );
  const authority = config.foundry.authorityHost;
  if (authority !== undefined && !OFFICIAL_AUTHORITY.test(authority))
    out.push(
      config.env === 'production'
        ? fail(
            CHECK,
            'sso.authority',
            'AZURE_AUTHORITY_HOST is not an official Entra authority',
            'Unset AZURE_AUTHORITY_HOST (or use https://login.microsoftonline.com / .us).',
          )
        : warn(
            CHECK,
            'sso.authority_test',
            'AZURE_AUTHORITY_HOST is a test authority (accepted outside production only)',
            'Unset AZURE_AUTHORITY_HOST before deploying: production accepts only login.microsoftonline.com / .us.',
          ),
    );
  const allowed = config.bot.allowedTenants;
  if (tenantId && allowed.length > 0 && !allowed.includes(tenantId.toLowerCase()))
    out.push(
      fail(
        CHECK,
        'sso.tenant_not_allowed',
        'ALLOWED_TENANTS does not include AAD_APP_TENANT_ID: every user would be refused',
        'Add the project tenant to ALLOWED_TENANTS (or leave ALLOWED_TENANTS empty).',
      ),
    );
  if (
    config.bot.appType === 'SingleTenant' &&
    tenantId &&
    config.bot.tenantId?.toLowerCase() !== tenantId.toLowerCase()
  )
    out.push(
      warn(
        CHECK,
        'sso.bot_tenant',
        'BOT_TENANT_ID differs from AAD_APP_TENANT_ID: the bot lives in another tenant than the project',
        'Register the single-tenant bot in the project tenant, or check that both ids are right.',
      ),
    );
  if (out.length === 0)
    out.push(
      pass(
        CHECK,
        `SSO app ${clientId ?? ''} in tenant ${tenantId ?? ''}, authority ${authority ?? 'https://login.microsoftonline.com'}; each user needs Azure AI User on the project`,
      ),
    );
  return out;
}
