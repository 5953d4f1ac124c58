/**
 * Outbound host allow-list (docs/reliability.md §2.1 "Outbound SSRF"): the activity's `serviceUrl` decides
 * where the bot sends replies and its token, so it must be a Bot Framework / Teams host (plus loopback in
 * development). Hosts match exactly or as dot-bounded subdomains.
 */
export function isAllowedServiceUrl(serviceUrl: unknown, allowedHosts: readonly string[]): boolean {
  if (typeof serviceUrl !== 'string' || serviceUrl.length > 2048) return false;
  let url: URL;
  try {
    url = new URL(serviceUrl);
  } catch {
    return false;
  }
  if (url.username || url.password) return false;
  const host = url.hostname.toLowerCase();
  const loopback = host === 'localhost' || host === '127.0.0.1' || host === '[::1]';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) return false;
  return allowedHosts.some((a) => host === a || host.endsWith(`.${a}`));
}
