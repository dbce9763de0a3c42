import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ClusterTls } from './swarm-cluster.js';

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${(r.stderr || String(r.error)).trim()}`);
}

/** A CA for one cluster and a client certificate it signed (EC keys: quick to make). */
export function makeCa(dir: string): ClusterTls {
  fs.mkdirSync(dir, { recursive: true });
  const f = (n: string) => path.join(dir, n);
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...key, '-keyout', f('ca-key.pem'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=swarm test cluster CA']);
  fs.writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  openssl(['req', ...key, '-keyout', f('key.pem'), '-out', f('client.csr'), '-subj', '/CN=slipway']);
  openssl(['x509', '-req', '-in', f('client.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca-key.pem'), '-CAcreateserial', '-out', f('cert.pem'), '-days', '2', '-extfile', f('client.ext')]); // prettier-ignore
  return { ca: f('ca.pem'), cert: f('cert.pem'), key: f('key.pem') };
}

/** A server certificate for one node's address, and the daemon.json keys that demand client certificates. */
export function serverTls(ca: ClusterTls, dir: string, address: string): Record<string, unknown> {
  fs.mkdirSync(dir, { recursive: true });
  const f = (n: string) => path.join(dir, n);
  const caKey = path.join(path.dirname(ca.ca), 'ca-key.pem');
  fs.writeFileSync(f('server.ext'), `subjectAltName=IP:${address}\nextendedKeyUsage=serverAuth\n`);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('server-key.pem'), '-out', f('server.csr'), '-subj', `/CN=${address}`]); // prettier-ignore
  openssl(['x509', '-req', '-in', f('server.csr'), '-CA', ca.ca, '-CAkey', caKey, '-CAcreateserial', '-out', f('server-cert.pem'), '-days', '2', '-extfile', f('server.ext')]); // prettier-ignore
  return { tls: true, tlsverify: true, tlscacert: ca.ca, tlscert: f('server-cert.pem'), tlskey: f('server-key.pem') };
}
