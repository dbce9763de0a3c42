import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Where OpenSSH keeps the host keys it trusts: the daemon user's file, then the system's. */
export const KNOWN_HOSTS_FILES = [path.join(os.homedir(), '.ssh', 'known_hosts'), '/etc/ssh/ssh_known_hosts'];

/**
 * The host keys (base64 of the key blob) known_hosts files trust for HOST on
 * PORT, as OpenSSH reads them: plain names (`[host]:port` off port 22) and
 * hashed ones (`|1|salt|hash`). Wildcard patterns, negations and
 * `@cert-authority` lines are not understood and so trust nothing; a
 * `@revoked` key is never trusted.
 */
export function knownHostKeys(host: string, port: number, files: string[] = KNOWN_HOSTS_FILES): Set<string> {
  const name = port === 22 ? host.toLowerCase() : `[${host.toLowerCase()}]:${port}`;
  const keys = new Set<string>();
  const revoked = new Set<string>();
  for (const file of files) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const fields = line.trim().split(/\s+/);
      if (!fields[0] || fields[0].startsWith('#')) continue;
      const marker = fields[0].startsWith('@') ? fields.shift() : undefined;
      const [patterns, , key] = fields;
      if (!patterns || !key || (marker && marker !== '@revoked')) continue;
      if (!patterns.split(',').some((p) => matches(p, name))) continue;
      (marker ? revoked : keys).add(key);
    }
  }
  for (const key of revoked) keys.delete(key);
  return keys;
}

function matches(pattern: string, name: string): boolean {
  const hashed = /^\|1\|([^|]+)\|([^|]+)$/.exec(pattern);
  if (!hashed) return pattern.toLowerCase() === name;
  const mac = crypto.createHmac('sha1', Buffer.from(hashed[1]!, 'base64')).update(name).digest();
  const want = Buffer.from(hashed[2]!, 'base64');
  return mac.length === want.length && crypto.timingSafeEqual(mac, want);
}
