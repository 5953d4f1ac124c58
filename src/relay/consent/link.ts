/**
 * Validates a consent link before any user sees it (docs/reliability.md §2.9, OWASP unvalidated redirects).
 * Only https, no credentials, no whitespace/control characters, ≤ 2048 chars, and a host equal to an
 * allow-listed host or a dot-bounded subdomain of one. Non-ASCII (IDN) hosts are accepted only when
 * allow-listed exactly in their punycode form. Loopback `http://` links are accepted only when the allow-list
 * names the host with its port (development: the local emulator), never in production (config refuses it).
 */
export type ConsentLinkCheck =
  | { ok: true; url: URL; host: string }
  | {
      ok: false;
      reason:
        'not_a_url' | 'not_https' | 'has_credentials' | 'host_not_allowed' | 'too_long' | 'bad_characters';
    };

const MAX_LEN = 2048;

const BAD_CHARS = /[\s\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

export function checkConsentLink(raw: string, allowedHosts: readonly string[]): ConsentLinkCheck {
  if (raw.length > MAX_LEN) return { ok: false, reason: 'too_long' };
  if (BAD_CHARS.test(raw)) return { ok: false, reason: 'bad_characters' };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'not_a_url' };
  }
  if (url.username !== '' || url.password !== '') return { ok: false, reason: 'has_credentials' };
  const host = url.hostname.toLowerCase();
  const hostWithPort = url.port ? `${host}:${url.port}` : host;
  const isLoopback = host === 'localhost' || host === '127.0.0.1' || host === '[::1]';
  if (url.protocol !== 'https:') {
    // Development only: the emulator's own consent page on loopback, allow-listed with its port.
    if (!(url.protocol === 'http:' && isLoopback && allowedHosts.includes(hostWithPort))) {
      return { ok: false, reason: 'not_https' };
    }
    return { ok: true, url, host: hostWithPort };
  }
  const allowed = allowedHosts.some((a) => {
    if (a.includes(':')) return a === hostWithPort;
    if (host === a) return true;
    // A dot-bounded subdomain only: never plain endsWith (evilconsent.azure-apihub.net ≠ x.consent.azure-apihub.net).
    return host.endsWith(`.${a}`) && !host.startsWith('xn--') && !host.includes('.xn--');
  });
  if (!allowed) return { ok: false, reason: 'host_not_allowed' };
  return { ok: true, url, host: hostWithPort };
}
