/**
 * The consent pages a user opens from an `oauth_consent_request` link (docs/foundry-wire.md §6.2 step 2):
 * a sign-in page with real Allow / Decline buttons (ids `allow` and `decline`, in a POST form), and the
 * "You can close this window" page the provider shows afterwards.
 */

const esc = (s: string): string =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

const layout = (title: string, body: string): string => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem; color: #242424; }
  .card { border: 1px solid #d1d1d1; border-radius: 8px; padding: 1.5rem; }
  button { font-size: 1rem; padding: .5rem 1.25rem; margin-right: .5rem; border-radius: 4px; border: 1px solid #888; cursor: pointer; }
  #allow { background: #0f6cbd; color: white; border-color: #0f6cbd; }
  .muted { color: #616161; font-size: .9rem; }
</style>
</head>
<body><div class="card">${body}</div></body>
</html>
`;

export interface ConsentPageModel {
  serverLabel: string;
  userName: string | undefined;
  oid: string;
  /** Where the form posts (the page's own path). */
  action: string;
  current: 'granted' | 'declined' | 'none';
}

export function consentPage(m: ConsentPageModel): string {
  const who = m.userName ? `${esc(m.userName)} (${esc(m.oid)})` : esc(m.oid);
  return layout(
    `Sign in to ${m.serverLabel}`,
    `<h1>Sign in to ${esc(m.serverLabel)}</h1>
<p>The helpdesk agent wants to use <strong>${esc(m.serverLabel)}</strong> on your behalf.</p>
<p>Signed in as <strong id="user">${who}</strong>.</p>
<p class="muted">Current decision: <span id="current">${m.current}</span>. This is the Foundry emulator's stand-in for the provider's consent page.</p>
<form method="post" action="${esc(m.action)}">
  <button type="submit" id="allow" name="decision" value="allow">Allow</button>
  <button type="submit" id="decline" name="decision" value="decline">Decline</button>
</form>`,
  );
}

export function consentDonePage(serverLabel: string, decision: 'granted' | 'declined'): string {
  const what =
    decision === 'granted'
      ? `Access to ${serverLabel} was granted.`
      : `Access to ${serverLabel} was declined.`;
  return layout(
    'You can close this window',
    `<h1>You can close this window</h1>
<p id="result" data-decision="${decision}">${esc(what)}</p>
<p class="muted">Return to Teams and continue the conversation.</p>`,
  );
}

export function consentNotFoundPage(): string {
  return layout(
    'Link expired',
    '<h1>This sign-in link is not valid</h1><p>Ask the agent again for a new link.</p>',
  );
}
