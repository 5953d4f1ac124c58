import { checkConsentLink } from '../../src/relay/consent/link';

/** CONS-01: the consent-link policy (docs/reliability.md §2.9) against a table of links; must match 100 %. */
const ALLOWED = ['consent.azure-apihub.net', 'consent.azure-apim.net', '127.0.0.1:7071'];

type Row = [name: string, link: string, ok: boolean, reason: string | null];

const long = `https://consent.azure-apihub.net/login?data=${'a'.repeat(2048)}`;

const TABLE: Row[] = [
  ['allow-listed host', 'https://consent.azure-apihub.net/login?data=abc', true, null],
  ['second allow-listed host', 'https://consent.azure-apim.net/x', true, null],
  [
    'dot-bounded subdomain',
    'https://logic-swedencentral-001.consent.azure-apihub.net/login?data=x',
    true,
    null,
  ],
  ['upper-case host', 'https://CONSENT.AZURE-APIHUB.NET/login', true, null],
  ['explicit default port', 'https://consent.azure-apihub.net:443/login', true, null],
  ['trailing-dot-free path with fragment', 'https://consent.azure-apihub.net/login#frag', true, null],
  ['loopback dev host allow-listed with its port', 'http://127.0.0.1:7071/__emulator/consent/ab', true, null],
  ['http scheme', 'http://consent.azure-apihub.net/login', false, 'not_https'],
  ['javascript:', 'javascript:alert(1)', false, 'not_https'],
  ['JavaScript: mixed case', 'JaVaScRiPt:alert(document.cookie)', false, 'not_https'],
  ['data:', 'data:text/html,<script>alert(1)</script>', false, 'not_https'],
  ['file:', 'file:///etc/passwd', false, 'not_https'],
  ['ftp:', 'ftp://consent.azure-apihub.net/', false, 'not_https'],
  [
    'credentials before an allowed host',
    'https://consent.azure-apihub.net@evil.example/',
    false,
    'has_credentials',
  ],
  ['user:pass on the allowed host', 'https://u:p@consent.azure-apihub.net/', false, 'has_credentials'],
  [
    'allowed name as a subdomain of evil',
    'https://consent.azure-apihub.net.evil.example/',
    false,
    'host_not_allowed',
  ],
  ['suffix without a dot', 'https://evilconsent.azure-apihub.net/', false, 'host_not_allowed'],
  ['sibling domain', 'https://azure-apihub.net/', false, 'host_not_allowed'],
  ['evil host', 'https://evil.example/login', false, 'host_not_allowed'],
  [
    'punycode look-alike subdomain',
    'https://xn--cnsent-9ua.consent.azure-apihub.net/',
    false,
    'host_not_allowed',
  ],
  ['IDN look-alike (Cyrillic о)', 'https://cоnsent.azure-apihub.net/', false, 'host_not_allowed'],
  ['punycode host', 'https://xn--80ak6aa92e.com/', false, 'host_not_allowed'],
  ['IP address', 'https://10.0.0.1/login', false, 'host_not_allowed'],
  ['loopback without https or allow-listed port', 'http://127.0.0.1:9999/', false, 'not_https'],
  ['allowed host on another port', 'https://consent.azure-apihub.net:8443/login', true, null],
  ['over 2048 characters', long, false, 'too_long'],
  ['CR/LF', 'https://consent.azure-apihub.net/login\r\nSet-Cookie: x', false, 'bad_characters'],
  ['space', 'https://consent.azure-apihub.net/log in', false, 'bad_characters'],
  ['tab', 'https://consent.azure-apihub.net/\tlogin', false, 'bad_characters'],
  ['U+2028', 'https://consent.azure-apihub.net/\u2028', false, 'bad_characters'],
  ['NUL', 'https://consent.azure-apihub.net/\u0000', false, 'bad_characters'],
  ['not a URL', 'consent.azure-apihub.net/login', false, 'not_a_url'],
  ['empty', '', false, 'not_a_url'],
  ['backslash host trick', 'https://evil.example\\@consent.azure-apihub.net/', false, null],
  ['protocol-relative', '//consent.azure-apihub.net/login', false, 'not_a_url'],
];

describe('checkConsentLink', () => {
  it.each(TABLE)('CONS-01 %s', (_name, link, ok, reason) => {
    const r = checkConsentLink(link, ALLOWED);
    expect(r.ok).toBe(ok);
    if (!r.ok && reason !== null) expect(r.reason).toBe(reason);
  });

  it('CONS-01 the whole table matches (100 %) and an accepted link keeps its host for the card', () => {
    const mismatches = TABLE.filter(([, link, ok]) => checkConsentLink(link, ALLOWED).ok !== ok);
    expect(mismatches.map(([name]) => name)).toEqual([]);
    expect(TABLE.length).toBeGreaterThanOrEqual(30);
    const r = checkConsentLink('https://a.consent.azure-apihub.net/login', ALLOWED);
    expect(r.ok && r.host).toBe('a.consent.azure-apihub.net');
  });

  it('CONS-01 an IDN host is accepted only when allow-listed exactly in punycode form', () => {
    expect(checkConsentLink('https://xn--80ak6aa92e.com/', ['xn--80ak6aa92e.com']).ok).toBe(true);
    expect(checkConsentLink('https://a.xn--80ak6aa92e.com/', ['xn--80ak6aa92e.com']).ok).toBe(false);
  });
});
