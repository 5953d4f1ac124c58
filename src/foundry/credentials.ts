import { inspect } from 'node:util';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import {
  AzureCliCredential,
  ClientSecretCredential,
  DefaultAzureCredential,
  ManagedIdentityCredential,
  WorkloadIdentityCredential,
} from '@azure/identity';
import { BotError } from '../errors';
import type { Config } from '../config/config';

/** Which `@azure/identity` credential the bot uses as itself (Config `FOUNDRY_CREDENTIAL`). */
type AppCredentialKind = Config['foundry']['credential'];

/**
 * A `TokenCredential` that never serialises what it holds: `JSON.stringify`, `util.inspect` and
 * `console.log` show only `{ name, kind }` (docs/conventions.md C12, botbuilder's `toJSON()` guard), so a
 * client secret held by the wrapped credential cannot reach a log by accident.
 */
class AppCredential implements TokenCredential {
  readonly #inner: TokenCredential;
  readonly #kind: AppCredentialKind;

  constructor(inner: TokenCredential, kind: AppCredentialKind) {
    this.#inner = inner;
    this.#kind = kind;
  }

  getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
    return this.#inner.getToken(scopes, options);
  }

  toJSON(): { name: string; kind: AppCredentialKind } {
    return { name: 'AppCredential', kind: this.#kind };
  }

  [inspect.custom](): string {
    return `AppCredential { kind: '${this.#kind}' }`;
  }

  toString(): string {
    return `AppCredential(${this.#kind})`;
  }
}

/**
 * Builds the credential the bot uses for Foundry in app mode, choosing as Azure SDK users expect:
 *
 * - `default` → `DefaultAzureCredential` (its usual chain: environment, workload identity, managed identity,
 *   Azure CLI, …), with `managedIdentityClientId` (and `workloadIdentityClientId`) = `azureClientId` when set;
 * - `managed_identity` → `ManagedIdentityCredential`: user-assigned when `azureClientId` is set, else
 *   system-assigned;
 * - `workload_identity` → `WorkloadIdentityCredential` (AKS federated token file from the environment;
 *   `clientId`/`tenantId` from config when set);
 * - `client_secret` → `ClientSecretCredential(azureTenantId, azureClientId, azureClientSecret)`;
 * - `azure_cli` → `AzureCliCredential` (developer machines), `tenantId` when set.
 *
 * `authorityHost`, when configured, is passed to the credentials that talk to Entra directly
 * (`client_secret`, `workload_identity`, `default`). Construction does no I/O: failures to obtain a token
 * surface later from `getToken` (mapped to `IDENTITY_UNAVAILABLE` by the Foundry client).
 *
 * The returned credential's `toJSON()` / `util.inspect` never reveal secrets.
 *
 * @throws BotError('CONFIG_INVALID') when `client_secret` is chosen without tenant id, client id and secret
 *   (normally already rejected by `loadConfig`).
 */
export function createAppCredential(cfg: Config['foundry']): TokenCredential {
  const clientId = cfg.azureClientId;
  const tenantId = cfg.azureTenantId;
  const authority = cfg.authorityHost !== undefined ? { authorityHost: cfg.authorityHost } : {};
  switch (cfg.credential) {
    case 'default':
      return new AppCredential(
        new DefaultAzureCredential({
          ...(clientId !== undefined
            ? { managedIdentityClientId: clientId, workloadIdentityClientId: clientId }
            : {}),
          ...(tenantId !== undefined ? { tenantId } : {}),
          ...authority,
        }),
        'default',
      );
    case 'managed_identity':
      return new AppCredential(
        clientId !== undefined
          ? new ManagedIdentityCredential({ clientId })
          : new ManagedIdentityCredential(),
        'managed_identity',
      );
    case 'workload_identity':
      return new AppCredential(
        new WorkloadIdentityCredential({
          ...(clientId !== undefined ? { clientId } : {}),
          ...(tenantId !== undefined ? { tenantId } : {}),
          ...authority,
        }),
        'workload_identity',
      );
    case 'client_secret': {
      const secret = cfg.azureClientSecret;
      if (clientId === undefined || tenantId === undefined || secret === undefined) {
        throw new BotError(
          'CONFIG_INVALID',
          'FOUNDRY_CREDENTIAL=client_secret needs AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET',
          { details: { keys: ['AZURE_CLIENT_ID', 'AZURE_TENANT_ID', 'AZURE_CLIENT_SECRET'] } },
        );
      }
      return new AppCredential(
        new ClientSecretCredential(tenantId, clientId, secret, authority),
        'client_secret',
      );
    }
    case 'azure_cli':
      return new AppCredential(
        new AzureCliCredential(tenantId !== undefined ? { tenantId } : {}),
        'azure_cli',
      );
  }
}
