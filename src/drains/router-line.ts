import type { AccessEntry } from '../router/engine.js';

/** A value as Heroku's router lines quote it: control characters and quotes escaped, cut at 2000 characters. */
const quoted = (v: string) =>
  `"${v.slice(0, 2000).replace(/["\\\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}"`;

/** The router line of one request, in Heroku's key=value shape: `at=info method=GET path="/" host=… status=200 bytes=12 protocol=http`. */
export function routerLine(e: AccessEntry): string {
  const fields = [
    'at=info',
    `method=${e.method.replace(/[^A-Za-z-]/g, '').slice(0, 20) || '-'}`,
    `path=${quoted(e.path)}`,
    `host=${e.host.replace(/[^\w.:[\]-]/g, '').slice(0, 255) || '-'}`,
    `fwd=${quoted(e.fwd)}`,
    `status=${e.status}`,
    `bytes=${e.bytes ?? '-'}`,
    `protocol=${e.protocol}`,
  ];
  return fields.join(' ');
}
