import fs from 'node:fs';

interface Listener {
  /** Local address as /proc shows it (hex). */
  address: string;
  uid: number;
}

function listeners(file: string, hexPort: string): Listener[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const found: Listener[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // sl local_address rem_address st … uid; state 0A is LISTEN.
    if (f.length > 7 && f[3] === '0A' && f[1]!.endsWith(`:${hexPort}`)) found.push({ address: f[1]!.slice(0, -5), uid: Number(f[7]) });
  }
  return found;
}

const V4_LOOPBACK = '0100007F';
const V4_ANY = '00000000';
const V6_ANY = '0'.repeat(32);
const V6_MAPPED_LOOPBACK = '0000000000000000FFFF00000100007F';

/**
 * The uid owning the socket a connection to 127.0.0.1:port reaches (the
 * router's and the health check's), read from /proc/net/tcp{,6}: the most
 * specific listener wins, as in the kernel — 127.0.0.1, then 0.0.0.0, then a
 * dual-stack [::]. Undefined when nothing listens there.
 *
 * A guest's port is trusted only when this is the guest's own uid: an app
 * that crashed leaves its port free, and another app could bind it and be
 * routed the crashed app's traffic otherwise.
 */
export function loopbackListenerUid(port: number): number | undefined {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const v4 = listeners('/proc/net/tcp', hex);
  const v6 = listeners('/proc/net/tcp6', hex);
  const pick =
    v4.find((l) => l.address === V4_LOOPBACK) ??
    v4.find((l) => l.address === V4_ANY) ??
    v6.find((l) => l.address === V6_MAPPED_LOOPBACK) ??
    v6.find((l) => l.address === V6_ANY);
  return pick?.uid;
}

/**
 * The uid owning the server side of the loopback connection between
 * `serverPort` and `clientPort`: an accepted socket carries the uid of the
 * listener that accepted it. Undefined when no such connection is listed.
 */
export function acceptedByUid(serverPort: number, clientPort: number): number | undefined {
  const local = `:${hexPort(serverPort)}`;
  const remote = `:${hexPort(clientPort)}`;
  // Each read makes the kernel walk its whole socket table (~5 ms here, whatever the file's length):
  // tcp6 first, where a dual-stack listener's accepted sockets are (node's default), so most need one.
  for (const file of ['/proc/net/tcp6', '/proc/net/tcp']) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const f = line.trim().split(/\s+/);
      // 01 ESTABLISHED, or 03 SYN_RECV (a request socket, listed with its listener's uid).
      if (f.length > 7 && f[1]!.endsWith(local) && f[2]!.endsWith(remote) && (f[3] === '01' || f[3] === '03')) return Number(f[7]);
    }
  }
  return undefined;
}

function hexPort(port: number): string {
  return port.toString(16).toUpperCase().padStart(4, '0');
}
