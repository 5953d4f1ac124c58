import type { AccessToken, TokenCredential } from '@azure/identity';
import { AzureLogger, getLogLevel, setLogLevel, type AzureLogLevel } from '@azure/logger';
import type { Config } from '../../config/config';
import { FOUNDRY_SCOPE } from '../../foundry/types';
import { fail, pass, tokenIdentity, warn, type Finding, type TokenIdentity } from './report';

/**
 * Check 2: a Foundry token for `https://ai.azure.com/.default` with the configured credential
 * (FOUNDRY_CREDENTIAL), naming the credential that answered and, on failure, the cause and the role needed.
 * Errors are classified by class name, HTTP status and Entra error code (docs/conventions.md C4), never by text.
 */

const CHECK = 'foundry-token';
const ROLE = 'Azure AI User on the Foundry project';

const KIND_NAME: Record<Config['foundry']['credential'], string> = {
  default: 'DefaultAzureCredential',
  managed_identity: 'ManagedIdentityCredential',
  workload_identity: 'WorkloadIdentityCredential',
  client_secret: 'ClientSecretCredential',
  azure_cli: 'AzureCliCredential',
};

export interface TokenCheck {
  finding: Finding;
  /** Present when a token was obtained. */
  identity?: TokenIdentity;
}

/** Entra error codes (AADSTS…) that mean "this tenant does not know the identity". */
const WRONG_TENANT_CODES = [90002, 90023, 700016, 900023];
const BAD_SECRET_CODES = [7000215, 7000222];

interface AuthErrorShape {
  name?: unknown;
  statusCode?: unknown;
  errorResponse?: { error?: unknown; errorCodes?: unknown };
}

/**
 * Gets a token and notes which credential of a chain answered. DefaultAzureCredential says so only in its log
 * (`@azure/logger`, "Result for <Credential>: SUCCESS"), so the log is captured for the call, never printed.
 */
async function getTokenNamed(
  credential: TokenCredential,
  timeoutMs: number,
): Promise<{ token: AccessToken | null; answeredBy: string | undefined }> {
  const lines: string[] = [];
  const previousLog = AzureLogger.log.bind(AzureLogger);
  const previousLevel: AzureLogLevel | undefined = getLogLevel();
  AzureLogger.log = (...args: unknown[]): void => {
    lines.push(args.map(String).join(' '));
  };
  setLogLevel('info');
  try {
    const token = await credential.getToken(FOUNDRY_SCOPE, { abortSignal: AbortSignal.timeout(timeoutMs) });
    const answered = lines
      .map((l) => /Result for (\w+Credential): SUCCESS/.exec(l)?.[1])
      .filter((n): n is string => n !== undefined);
    return { token, answeredBy: answered[answered.length - 1] };
  } finally {
    setLogLevel(previousLevel);
    AzureLogger.log = previousLog;
  }
}

function codesOf(err: AuthErrorShape): number[] {
  const codes = err.errorResponse?.errorCodes;
  return Array.isArray(codes) ? codes.filter((c): c is number => typeof c === 'number') : [];
}

/** The finding for a credential that gave no token. */
function diagnoseTokenError(cfg: Config['foundry'], err: unknown, severity: 'fail' | 'warn'): Finding {
  const make = severity === 'fail' ? fail : warn;
  const e = (typeof err === 'object' && err !== null ? err : {}) as AuthErrorShape;
  const name = typeof e.name === 'string' ? e.name : 'Error';
  const tenant = cfg.azureTenantId ?? '<project tenant>';
  const codes = codesOf(e);
  if (codes.some((c) => WRONG_TENANT_CODES.includes(c)))
    return make(
      CHECK,
      'identity.wrong_tenant',
      `${KIND_NAME[cfg.credential]}: Entra does not know this identity in the tenant it asked (AADSTS${codes.join(', ')})`,
      `Set AZURE_TENANT_ID to the tenant of the Foundry project (the identity must live there), then give the identity ${ROLE}.`,
    );
  if (codes.some((c) => BAD_SECRET_CODES.includes(c)))
    return make(
      CHECK,
      'identity.secret_rejected',
      `ClientSecretCredential: Entra rejected AZURE_CLIENT_SECRET (invalid or expired, AADSTS${codes.join(', ')})`,
      'Create a new client secret for the app registration and update AZURE_CLIENT_SECRET (or move to a managed identity).',
    );
  if (name === 'AggregateAuthenticationError')
    return make(
      CHECK,
      'identity.no_credential',
      'DefaultAzureCredential found no credential: no environment credential, workload identity or managed identity, and the Azure CLI is not signed in',
      `On Azure turn on a managed identity (a user-assigned one needs AZURE_CLIENT_ID), on a developer machine run \`az login --tenant ${tenant}\`; then give that identity ${ROLE}.`,
    );
  if (name === 'CredentialUnavailableError') return unavailable(cfg, make, tenant);
  if (name === 'AuthenticationError' && typeof e.statusCode === 'number' && e.statusCode < 500)
    return make(
      CHECK,
      cfg.credential === 'managed_identity' ? 'identity.managed_identity_refused' : 'identity.rejected',
      `${KIND_NAME[cfg.credential]}: the token service refused (HTTP ${e.statusCode}${typeof e.errorResponse?.error === 'string' ? ` ${e.errorResponse.error}` : ''})`,
      cfg.credential === 'managed_identity'
        ? 'Check that the managed identity is assigned to this app (for a user-assigned one, that AZURE_CLIENT_ID is its client id, not its object id).'
        : `Check AZURE_TENANT_ID, AZURE_CLIENT_ID and the credential's settings, then give the identity ${ROLE}.`,
    );
  return make(
    CHECK,
    'identity.unreachable',
    `${KIND_NAME[cfg.credential]}: no token (${name}); the token service did not answer`,
    'Check outbound network access to the identity endpoint (login.microsoftonline.com, or the managed-identity endpoint) and retry.',
  );
}

function unavailable(cfg: Config['foundry'], make: typeof fail, tenant: string): Finding {
  switch (cfg.credential) {
    case 'managed_identity':
    case 'default':
      return make(
        CHECK,
        'identity.no_managed_identity',
        'ManagedIdentityCredential: no managed identity is available where the doctor runs',
        `Turn on the App Service's managed identity (or assign the user-assigned one and set AZURE_CLIENT_ID to its client id), then give it ${ROLE}.`,
      );
    case 'azure_cli':
      return make(
        CHECK,
        'identity.cli_not_signed_in',
        'AzureCliCredential: the Azure CLI is not installed or not signed in',
        `Run \`az login --tenant ${tenant}\` as a user with ${ROLE} (on Azure, use FOUNDRY_CREDENTIAL=managed_identity instead).`,
      );
    case 'workload_identity':
      return make(
        CHECK,
        'identity.no_workload_identity',
        'WorkloadIdentityCredential: no federated token file (AZURE_FEDERATED_TOKEN_FILE) or client id',
        `Enable workload identity on the pod (service account with the azure.workload.identity annotations), then give it ${ROLE}.`,
      );
    case 'client_secret':
      return make(
        CHECK,
        'identity.rejected',
        'ClientSecretCredential: the credential is not usable with these settings',
        'Set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET of the app registration.',
      );
  }
}

/** Runs check 2. In user mode a failure is a warning: Foundry is called as each user, not as the bot. */
export async function checkFoundryToken(
  config: Config,
  credential: TokenCredential,
  timeoutMs: number,
): Promise<TokenCheck> {
  const cfg = config.foundry;
  const severity = cfg.auth === 'user' ? 'warn' : 'fail';
  let got: { token: AccessToken | null; answeredBy: string | undefined };
  try {
    got = await getTokenNamed(credential, timeoutMs);
  } catch (err) {
    return { finding: diagnoseTokenError(cfg, err, severity) };
  }
  if (!got.token) return { finding: diagnoseTokenError(cfg, undefined, severity) };
  const identity = tokenIdentity(got.token.token);
  const who = got.answeredBy ?? KIND_NAME[cfg.credential];
  const via = cfg.credential === 'default' ? `DefaultAzureCredential → ${who}` : who;
  const whoIs = `object id ${identity.oid ?? '?'}, tenant ${identity.tid ?? '?'}`;
  if (cfg.azureTenantId !== undefined && identity.tid !== undefined && identity.tid !== cfg.azureTenantId)
    return {
      identity,
      finding: fail(
        CHECK,
        'identity.wrong_tenant',
        `${via} answered with a token of tenant ${identity.tid}, not AZURE_TENANT_ID ${cfg.azureTenantId}`,
        'Sign in to (or configure) the tenant of the Foundry project: cross-tenant access is not supported.',
      ),
    };
  return { identity, finding: pass(CHECK, `token for ${FOUNDRY_SCOPE} from ${via} (${whoIs})`) };
}
