import { createHash } from 'node:crypto';
import ssh2, { type AuthContext } from 'ssh2';

const { utils } = ssh2;
import type { User } from '../store/index.js';
import type { GitGateway } from './gateway.js';

/**
 * The OpenSSH fingerprint of a public key blob (the wire format, as in
 * `ctx.key.data` or the base64 part of an authorized_keys line):
 * `SHA256:` + unpadded base64 of its sha256, what `ssh-keygen -l` prints.
 */
export function sshFingerprint(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
}

export interface AuthOptions {
  gateway: GitGateway;
  log: (msg: string) => void;
  /** Called once the client has proven it holds the private key of a known user's key. */
  onUser: (user: User, keyFingerprint: string) => void;
}

/**
 * Handles one `authentication` event. Public keys only: a key probe (no
 * signature) is answered "acceptable" when the key belongs to a user, a signed
 * attempt is accepted only when the signature verifies. Identity comes from
 * the key alone; the SSH user name is ignored (everyone uses `slipway`).
 */
export function authenticate(ctx: AuthContext, opts: AuthOptions): void {
  if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
  let user: User | undefined;
  const fingerprint = sshFingerprint(ctx.key.data);
  try {
    user = opts.gateway.userForKey(fingerprint);
  } catch (err) {
    opts.log(`ssh: key lookup failed: ${err instanceof Error ? err.message : String(err)}`);
    return ctx.reject(['publickey']);
  }
  if (!user) return ctx.reject(['publickey']);
  if (!ctx.signature) return ctx.accept();

  const key = utils.parseKey(ctx.key.data);
  if (key instanceof Error || Array.isArray(key) || !ctx.blob) return ctx.reject(['publickey']);
  if (key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) {
    opts.log(`ssh: bad signature for a key of user ${user.name}`);
    return ctx.reject(['publickey']);
  }
  opts.onUser(user, fingerprint);
  ctx.accept();
}
