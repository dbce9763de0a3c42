import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** Real certificates for the tests, made with openssl: a root, an intermediate under it, leaves under that. */
export interface Pki {
  dir: string;
  /** PEM files. */
  root: string;
  intermediate: string;
  intermediateKey: string;
}

export interface Leaf {
  cert: string;
  key: string;
  /** Leaf then intermediate: what a CA's "fullchain.pem" holds. */
  fullchain: string;
  /** The PEM texts. */
  certPem: string;
  keyPem: string;
  fullchainPem: string;
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

export function makePki(dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-pki-'))): Pki {
  fs.writeFileSync(
    path.join(dir, 'ext.cnf'),
    '[ca]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n',
  );
  openssl(
    [
      'req',
      '-x509',
      ...EC,
      '-keyout',
      'root.key',
      '-out',
      'root.pem',
      '-days',
      '30',
      '-subj',
      '/O=Slipway Tests/CN=Slipway Test Root',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  openssl(
    [
      'req',
      '-new',
      ...EC,
      '-keyout',
      'intermediate.key',
      '-out',
      'intermediate.csr',
      '-subj',
      '/O=Slipway Tests/CN=Slipway Test Intermediate',
    ],
    dir,
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'intermediate.csr',
      '-CA',
      'root.pem',
      '-CAkey',
      'root.key',
      '-CAcreateserial',
      '-out',
      'intermediate.pem',
      '-days',
      '30',
      '-extfile',
      'ext.cnf',
      '-extensions',
      'ca',
    ],
    dir,
  );
  fs.writeFileSync(path.join(dir, 'index.txt'), '');
  fs.writeFileSync(path.join(dir, 'serial'), '1000\n');
  fs.writeFileSync(
    path.join(dir, 'ca.cnf'),
    `[ca]\ndefault_ca=test\n[test]\ndatabase=${dir}/index.txt\nnew_certs_dir=${dir}\nserial=${dir}/serial\ndefault_md=sha256\npolicy=any\nunique_subject=no\n[any]\ncommonName=supplied\n`,
  );
  return {
    dir,
    root: path.join(dir, 'root.pem'),
    intermediate: path.join(dir, 'intermediate.pem'),
    intermediateKey: path.join(dir, 'intermediate.key'),
  };
}

let serial = 0;

/**
 * A leaf for `names` (subjectAltName DNS names, or IP entries for addresses), signed by the intermediate.
 * Valid for `days` (default 20) from now; `expired` dates it in 2020 instead.
 */
export function makeLeaf(pki: Pki, names: string[], opts: { expired?: boolean; key?: string; days?: number } = {}): Leaf {
  const base = path.join(pki.dir, `leaf-${++serial}`);
  fs.writeFileSync(
    `${base}.cnf`,
    `[leaf]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${names.map((n) => (net.isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(',')}\n`,
  );
  const key = opts.key ?? `${base}.key`;
  if (opts.key) openssl(['req', '-new', '-key', key, '-out', `${base}.csr`, '-subj', `/CN=${names[0]}`], pki.dir);
  else openssl(['req', '-new', ...EC, '-keyout', key, '-out', `${base}.csr`, '-subj', `/CN=${names[0]}`], pki.dir);
  const cert = `${base}.pem`;
  if (opts.expired) {
    openssl(
      [
        'ca',
        '-batch',
        '-config',
        'ca.cnf',
        '-cert',
        pki.intermediate,
        '-keyfile',
        pki.intermediateKey,
        '-in',
        `${base}.csr`,
        '-out',
        cert,
        '-notext',
        '-startdate',
        '20200101000000Z',
        '-enddate',
        '20200201000000Z',
        '-extfile',
        `${base}.cnf`,
        '-extensions',
        'leaf',
      ],
      pki.dir,
    );
  } else {
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${base}.csr`,
        '-CA',
        pki.intermediate,
        '-CAkey',
        pki.intermediateKey,
        '-CAcreateserial',
        '-out',
        cert,
        '-days',
        String(opts.days ?? 20),
        '-extfile',
        `${base}.cnf`,
        '-extensions',
        'leaf',
      ],
      pki.dir,
    );
  }
  const fullchain = `${base}-fullchain.pem`;
  fs.writeFileSync(fullchain, fs.readFileSync(cert, 'utf8') + fs.readFileSync(pki.intermediate, 'utf8'));
  return {
    cert,
    key,
    fullchain,
    certPem: fs.readFileSync(cert, 'utf8'),
    keyPem: fs.readFileSync(key, 'utf8'),
    fullchainPem: fs.readFileSync(fullchain, 'utf8'),
  };
}
