/**
 * The API token from an `Authorization: Basic …` header. The token is the
 * password and the user name is ignored (`http://git:TOKEN@host/…`); when the
 * password is empty the user name is taken instead, so `http://TOKEN@host/…`
 * (the form GitHub-style CI tooling writes) works too.
 */
export function basicAuthToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const name = colon < 0 ? decoded : decoded.slice(0, colon);
  const password = colon < 0 ? '' : decoded.slice(colon + 1);
  const token = password || name;
  return token === '' ? undefined : token;
}
