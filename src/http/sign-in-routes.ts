import { readFileSync } from 'node:fs';
import type * as restify from 'restify';
import type { SignInPages } from '../identity/sign-in-pages';
import { hashId, type Logger } from '../observability/logger';

/**
 * The routes of the bot's own sign-in pages (user mode; the flow is described in src/identity/sign-in-pages.ts):
 *
 * - `GET /auth/start?state=…`: 302 to Entra's authorize endpoint (code + PKCE) for a live state;
 * - `GET /auth/end?code=…&state=…` (or `error=…`): keeps the code for its state and answers a page that
 *   completes with the Teams JavaScript SDK: `authentication.notifySuccess(state)` (Teams then sends the bot
 *   `signin/verifyState`), or `notifyFailure(reason)`;
 * - `GET /auth/teams-js.js`: @microsoft/teams-js's UMD bundle from node_modules, so the page needs no CDN;
 *   `GET /auth/end.js`: the page's script (no inline script, so the pages carry a strict CSP).
 *
 * The pages never show a token or a code; the state is echoed only to the Teams window that opened the page.
 */

const TEAMS_JS = require.resolve('@microsoft/teams-js');

/** The end page's script: tells Teams (the window that opened the sign-in) how the sign-in ended. */
const END_JS = `(function () {
  var el = document.getElementById('result');
  var outcome = el.getAttribute('data-outcome');
  var value = el.getAttribute('data-value');
  microsoftTeams.app.initialize().then(function () {
    if (outcome === 'success') microsoftTeams.authentication.notifySuccess(value);
    else microsoftTeams.authentication.notifyFailure(value);
  }, function () {
    el.textContent = 'Sign-in finished. Close this window and return to Teams.';
  });
})();
`;

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(
  title: string,
  text: string,
  result?: { outcome: 'success' | 'failure'; value: string },
): string {
  const scripts = result
    ? `<div id="result" data-outcome="${result.outcome}" data-value="${escapeHtml(result.value)}"></div>` +
      '<script src="/auth/teams-js.js"></script><script src="/auth/end.js"></script>'
    : '';
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>` +
    `<body style="font-family: sans-serif; margin: 2em"><h1>${escapeHtml(title)}</h1>` +
    `<p id="message">${escapeHtml(text)}</p>${scripts}</body></html>`
  );
}

function send(res: restify.Response, status: number, type: string, body: string): void {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'content-security-policy': CSP,
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
  });
  res.end(body);
}

const HTML = 'text/html; charset=utf-8';
const JS = 'application/javascript; charset=utf-8';

function queryOf(req: restify.Request): URLSearchParams {
  return new URL(req.url ?? '/', 'http://x').searchParams;
}

/** Registers the sign-in pages on the bot's HTTP server. */
export function registerSignInRoutes(server: restify.Server, pages: SignInPages, log: Logger): void {
  const l = log.child('signin_pages');
  let teamsJs: string | undefined;

  server.get('/auth/teams-js.js', (_req, res, next) => {
    teamsJs ??= readFileSync(TEAMS_JS, 'utf8');
    send(res, 200, JS, teamsJs);
    return next();
  });
  server.get('/auth/end.js', (_req, res, next) => {
    send(res, 200, JS, END_JS);
    return next();
  });

  server.get('/auth/start', (req, res, next) => {
    const state = queryOf(req).get('state') ?? '';
    const target = state ? pages.authorizeUrl(state) : undefined;
    if (!target) {
      l.info('signin.page_start_refused', { state: hashId(state) });
      sendExpired(res, 'Send your message to the bot again to get a new one.');
      return next();
    }
    l.info('signin.page_started', { state: hashId(state) });
    res.writeHead(302, { location: target, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' });
    res.end();
    return next();
  });

  server.get('/auth/end', (req, res, next) => {
    const q = queryOf(req);
    const state = q.get('state') ?? '';
    const code = q.get('code');
    const error = q.get('error');
    if (error || !code) {
      // Entra's error code only (its description can quote input); the window tells Teams it failed.
      const reason = (error ?? 'no_code').replace(/[^a-z_]/gi, '').slice(0, 64);
      pages.drop(state);
      l.warn('signin.page_failed', { state: hashId(state), error: reason });
      send(
        res,
        200,
        HTML,
        page('Sign-in did not complete', `Entra answered: ${reason}. Close this window and try again.`, {
          outcome: 'failure',
          value: reason,
        }),
      );
      return next();
    }
    if (!pages.receive(state, code)) {
      l.info('signin.page_end_refused', { state: hashId(state) });
      sendExpired(res, 'Close this window and send your message again.');
      return next();
    }
    l.info('signin.page_code_received', { state: hashId(state) });
    send(
      res,
      200,
      HTML,
      page('Signed in', 'You are signed in. This window closes by itself; return to Teams.', {
        outcome: 'success',
        value: state,
      }),
    );
    return next();
  });
}

/** A start or end page for a state that expired or was used already: 400 with what to do next. */
function sendExpired(res: restify.Response, next: string): void {
  send(
    res,
    400,
    HTML,
    page('Sign-in link expired', `This sign-in link has expired or was already used. ${next}`),
  );
}
