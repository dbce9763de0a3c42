import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** One self-signed P-256 certificate for `host`, made with openssl in `dir`: PEM texts and a file holding both. */
export function selfSignedCertificate(dir: string, host: string): { chain: string; key: string; file: string } {
  const cert = path.join(dir, 'bench-cert.pem');
  const key = path.join(dir, 'bench-key.pem');
  const r = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      `/CN=${host}`,
      '-addext',
      `subjectAltName=DNS:${host}`,
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`openssl could not make the bench certificate: ${r.stderr}`);
  const chain = fs.readFileSync(cert, 'utf8');
  const keyPem = fs.readFileSync(key, 'utf8');
  const file = path.join(dir, 'bench-cert-key.pem');
  fs.writeFileSync(file, chain + keyPem, { mode: 0o600 });
  return { chain, key: keyPem, file };
}
