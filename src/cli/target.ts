import fs from 'node:fs';
import { readLogin, type Login } from './login-file.js';
import type { Transport } from './transport.js';

// Which server a command goes to, read before anything else: a command for the
// host's own daemon (the control socket) then never loads HTTP, HTTPS and TLS,
// ~20 ms of every local command's start.

/** Where a remote command goes, and as whom. */
export interface RemoteTarget {
  url: string;
  token: string;
  /** Where the target came from, for `whoami`. */
  from: string;
  transport: Transport;
}

/** `slipway --ca FILE --insecure COMMAND`: for this command, over what the login or the environment say. */
export interface TransportFlags {
  ca?: string;
  insecure?: boolean;
}

/**
 * Precedence: SLIPWAY_REMOTE=0 (or `--local`) forces the control socket;
 * otherwise SLIPWAY_URL + SLIPWAY_TOKEN (with SLIPWAY_CA, SLIPWAY_INSECURE=1),
 * then the stored login; with neither, commands go to the local server as before.
 */
export function remoteTarget(flags: TransportFlags = {}): RemoteTarget | undefined {
  if (process.env.SLIPWAY_REMOTE === '0') return undefined;
  const { SLIPWAY_URL: url, SLIPWAY_TOKEN: token, SLIPWAY_CA: caFile, SLIPWAY_INSECURE: insecure } = process.env;
  const given = (t: Transport): Transport => ({
    ca: flags.ca ? readCa(flags.ca) : t.ca,
    insecure: flags.insecure || t.insecure,
  });
  if (url && token)
    return {
      url: baseUrl(url),
      token,
      from: 'SLIPWAY_URL and SLIPWAY_TOKEN',
      transport: given({ ca: caFile ? readCa(caFile) : undefined, insecure: insecure === '1' }),
    };
  const login: Login | undefined = readLogin();
  return login
    ? { url: baseUrl(login.url), token: login.token, from: 'slipway login', transport: given({ ca: login.ca, insecure: login.insecure }) }
    : undefined;
}

export function baseUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`"${url}" is not a URL; give the server's API address, e.g. http://slipway.example.com:7000`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`"${url}" is not an http(s) URL`);
  return `${u.origin}${u.pathname.replace(/\/+$/, '').replace(/\/api\/v1$/, '')}`;
}

/** `--ca FILE`: its PEM text, checked to hold at least one certificate. */
export function readCa(file: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read --ca ${file} (${(err as NodeJS.ErrnoException).code}); give the PEM file of your CA`);
  }
  if (!/-----BEGIN CERTIFICATE-----/.test(text)) throw new Error(`--ca ${file} holds no PEM certificate; give the PEM file of your CA`);
  return text;
}
