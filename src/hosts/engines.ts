import type Docker from 'dockerode';
import { SlipwayError, invalid } from '../errors.js';
import { KNOWN_HOSTS_FILES, knownHostKeys } from './known-hosts.js';
import { newDocker } from '../docker/engine.js';

/** What reaching a host's engine takes beyond its address: TLS files (tcp://) or an SSH key (ssh://), PEM texts. */
export interface EngineCredentials {
  ca?: string;
  cert?: string;
  key?: string;
}

export interface EngineSpec {
  /** `unix:///PATH`, `tcp://HOST[:PORT]` or `ssh://USER@HOST[:PORT]`. */
  address: string;
  credentials?: EngineCredentials;
}

/** How long an engine has to answer a ping before it counts as unreachable (a dropped TCP SYN would hang). */
export const ANSWER_MS = 5000;
/**
 * How long any one engine call may take (a Swarm join takes seconds): an
 * engine that answers the ping and then holds a call open must not hold the
 * command, or the API request, for ever.
 */
export const CALL_MS = 60_000;
/** Longer than any real engine address; the API takes 500 characters too. */
const MAX_ADDRESS = 500;
/** A Linux user name: nothing an SSH client could read as an option. */
const SSH_USER = /^[A-Za-z_][A-Za-z0-9._-]{0,31}$/;

const FORMS = 'unix:///PATH, tcp://HOST[:PORT] (with --ca, --cert, --key for TLS) or ssh://USER@HOST[:PORT]';

/**
 * A dockerode client for a host's engine; refuses addresses and credentials
 * that do not fit together. The address is recorded and shown as given (in
 * `hosts`, the API, error lines), so it may hold no control characters or
 * spaces (the URL parser drops a newline, the record would keep it) and no
 * password (engine credentials are sealed; an address is not).
 */
export function engineClient(spec: EngineSpec, opts: { timeoutMs?: number; knownHosts?: string[] } = {}): Docker {
  const { address, credentials: c = {} } = spec;
  const bad = (why: string) => invalid(`the engine address ${JSON.stringify(address.slice(0, 100))} ${why}`, `use ${FORMS}`);
  const timeout = opts.timeoutMs ?? CALL_MS;
  if (address.length > MAX_ADDRESS) throw bad(`is longer than ${MAX_ADDRESS} characters`);
  if (/[\s\x00-\x1f\x7f]/.test(address)) throw bad('holds spaces or control characters');
  if (address.startsWith('unix://')) {
    const socketPath = address.slice('unix://'.length);
    if (!socketPath.startsWith('/')) throw bad('names no absolute socket path');
    if (c.ca || c.cert || c.key) throw bad('is a unix socket, which takes no --ca, --cert or --key');
    return newDocker({ socketPath, timeout });
  }
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw bad('is not one Slipway knows');
  }
  if (url.protocol === 'tcp:') {
    const tls = Boolean(c.ca || c.cert || c.key);
    if (tls && !(c.ca && c.cert && c.key)) throw bad('needs all three of --ca, --cert and --key for TLS, or none of them');
    if (!url.hostname) throw bad('names no host');
    if (url.username || url.password) throw bad('has a user or password, which tcp:// does not use; give the TLS files instead');
    return newDocker({
      timeout,
      host: url.hostname,
      port: Number(url.port || (tls ? 2376 : 2375)),
      protocol: tls ? 'https' : 'http',
      ...(tls ? { ca: c.ca, cert: c.cert, key: c.key } : {}),
    });
  }
  if (url.protocol === 'ssh:') {
    if (!url.username || !url.hostname) throw bad('needs a user and a host: ssh://USER@HOST');
    if (url.password) throw bad('holds a password, which would be stored and shown in clear; give the private key with --key');
    if (!SSH_USER.test(decodeURIComponent(url.username))) throw bad('names an invalid user (letters, digits, ".", "_" and "-")');
    if (c.ca || c.cert) throw bad('is SSH, which takes only --key (the private key), no --ca or --cert');
    const port = Number(url.port || 22);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    // As `ssh` itself: only a host key known_hosts trusts. The engine is given the Swarm's join token
    // and the key signs in to it: an impostor on the way must get neither.
    const known = knownHostKeys(host, port, opts.knownHosts ?? KNOWN_HOSTS_FILES);
    if (!known.size)
      throw new SlipwayError(
        'host_key_unknown',
        `no known host key for ${host}${port === 22 ? '' : ` port ${port}`} in ${(opts.knownHosts ?? KNOWN_HOSTS_FILES).join(' or ')}`,
        {
          status: 422,
          hint: `on the server host, check its fingerprint and add it: ssh-keyscan ${port === 22 ? '' : `-p ${port} `}${host} >> ~/.ssh/known_hosts`,
        },
      );
    return newDocker({
      protocol: 'ssh',
      host,
      port,
      username: decodeURIComponent(url.username),
      // No `timeout` here: Node's http client calls setTimeout on the socket, which an SSH channel lacks
      // (an uncaught TypeError). Calls are bounded by answer() and ssh2's own readyTimeout instead.
      // The engine is reached as `docker system dial-stdio` over SSH (what the docker CLI does too).
      sshOptions: {
        ...(c.key ? { privateKey: c.key } : { agent: process.env.SSH_AUTH_SOCK }),
        hostVerifier: (key: Buffer) => known.has(key.toString('base64')),
      },
    } as Docker.DockerOptions);
  }
  throw bad('is not one Slipway knows');
}

/** Pings the engine; fails with one line naming the address and why, within ANSWER_MS. */
export async function requireAnswer(docker: Docker, address: string): Promise<void> {
  await answer(address, () => docker.ping());
}

/**
 * One engine call, answered within ANSWER_MS or refused with one line naming
 * the address and why: an engine that answers the ping and then holds `info`
 * open would otherwise hold the command (and the API request) for ever.
 */
export async function answer<T>(address: string, call: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const silent = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ANSWER_MS / 1000} s`)), ANSWER_MS);
  });
  try {
    return await Promise.race([call(), silent]);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { json?: { message?: string } };
    const why =
      e.code === 'ENOENT'
        ? 'no socket there'
        : e.code === 'ECONNREFUSED'
          ? 'connection refused'
          : e.code === 'EACCES'
            ? 'permission denied'
            : (e.json?.message ?? e.message ?? String(err)).split('\n')[0];
    throw new SlipwayError('host_unreachable', `the Docker engine at ${address} does not answer (${why})`, {
      status: 422,
      cause: err,
      hint: 'check that dockerd runs there and listens on that address (and, for TLS, that the files are its client certificate)',
    });
  } finally {
    clearTimeout(timer);
  }
}
