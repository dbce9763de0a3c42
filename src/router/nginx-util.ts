import fs from 'node:fs';
import net from 'node:net';

/** Small helpers of the nginx engine. */

/** Where Slipway reaches nginx listening on `host` (loopback for a wildcard address). */
export function probeHostFor(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Writes a config file whole (rename: nginx never reads half of one), for
 * its owner only: the platform route's file holds the router key (Route.headers),
 * which must not rest on the mode of the directory. nginx's master reads
 * config as the daemon's user; its workers never do.
 */
export function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o600 });
  // A leftover tmp of a crashed daemon keeps its old mode through writeFileSync.
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}

export function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
