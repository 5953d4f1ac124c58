import type { TokenAuthority } from './identity';

/**
 * PLACEHOLDER — the on-behalf-of (OBO) token endpoint is not built yet; another engineer adds it here.
 *
 * Where it plugs in: server.ts routes `POST /{tenant}/oauth2/v2.0/token` (the `token_endpoint` of the
 * OpenID configuration, identity.ts) to `handleOboTokenRequest`. @azure/identity's OnBehalfOfCredential
 * insists on an https authority, so the finished endpoint will need an https listener (node:https with a
 * self-signed certificate, trusted in tests through NODE_EXTRA_CA_CERTS or the credential's transport).
 * Expected flow: `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`, `requested_token_use=on_behalf_of`,
 * `assertion=<the user's Teams SSO token>`, `scope=https://ai.azure.com/.default`, client credentials → a
 * token from `authority.issueToken({ oid: <assertion oid>, tid: <assertion tid>, … })`, so that Foundry
 * routes see the end user's oid.
 *
 * Until then it answers 501 with an OAuth-style error body.
 */
export interface OboResult {
  status: number;
  body: Record<string, unknown>;
}

export function handleOboTokenRequest(_authority: TokenAuthority, _form: URLSearchParams): OboResult {
  return {
    status: 501,
    body: {
      error: 'temporarily_unavailable',
      error_description:
        'The emulator does not implement the on-behalf-of token endpoint yet (emulator/obo.ts).',
    },
  };
}
