import type { AddressInfo } from 'node:net';
import ssh2, { type Connection } from 'ssh2';

const { Server } = ssh2;
import type { LiveSession } from '../auth/sessions.js';
import { listenAll, WILDCARD_HOSTS } from '../listen.js';
import type { User } from '../store/index.js';
import type { GitGateway } from './gateway.js';
import { authenticate } from './ssh-auth.js';
import { handleSession } from './ssh-session.js';

export interface SshServerOptions {
  /** TCP port; 0 picks a free one (see the returned `port`). */
  port: number;
  /** Addresses to listen on, one socket each; default every IPv4 and IPv6 address. */
  hosts?: string[];
  /** The host private key's contents (OpenSSH or PEM format), e.g. of `ssh_host_ed25519_key`. */
  hostKey: Buffer | string;
  gateway: GitGateway;
  /** Where connection and session failures go; default stderr. */
  log?: (msg: string) => void;
}

const LOGIN_GRACE_MS = 60_000;
/**
 * How long a connection whose key or user was removed stays up: its channels
 * end themselves first, each with the reason, then the connection goes.
 */
const REVOKED_GRACE_MS = 3000;
/** Key probes and signed attempts both count; ssh tries each offered key once or twice. */
const MAX_AUTH_TRIES = 20;

export interface SshServer {
  /** The port actually bound. */
  port: number;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/**
 * The SSH entrance: public-key login for known keys only, then `git push`/
 * `git clone` and Slipway commands over exec requests. Nothing here ever runs
 * a shell; see ssh-command.ts for how command lines are split.
 */
export async function startSshServer(opts: SshServerOptions): Promise<SshServer> {
  const log = opts.log ?? ((msg: string) => process.stderr.write(`${msg}\n`));
  const clients = new Set<Connection>();

  const server = new Server({ hostKeys: [opts.hostKey], ident: 'Slipway' }, (client, info) => {
    clients.add(client);
    // As sshd does: SSH is a conversation of small packets, and with Nagle's algorithm each
    // reply the client waits for (key exchange, auth, channel, exit status) sat out its delayed ACK: ~40 ms each.
    // ssh2's server-side connection has it (lib/server.js); its types list it for the client side only.
    (client as Connection & { setNoDelay(on: boolean): void }).setNoDelay(true);
    let user: User | undefined;
    let keyFingerprint: string | undefined;
    let live: LiveSession | undefined;
    let revokedTimer: NodeJS.Timeout | undefined;
    let markClosed!: () => void;
    const connectionClosed = new Promise<void>((resolve) => (markClosed = resolve));

    // Like sshd's LoginGraceTime and MaxAuthTries: a connection that cannot
    // log in does not get to hold a socket or probe keys forever.
    let attempts = 0;
    const grace = setTimeout(() => client.end(), LOGIN_GRACE_MS);
    grace.unref();
    client.on('authentication', (ctx) => {
      if (++attempts > MAX_AUTH_TRIES) return client.end();
      try {
        authenticate(ctx, {
          gateway: opts.gateway,
          log,
          onUser: (u, fingerprint) => {
            user = u;
            keyFingerprint = fingerprint;
          },
        });
      } catch (err) {
        log(`ssh: authentication from ${info.ip} failed: ${err instanceof Error ? err.message : String(err)}`);
        ctx.reject(['publickey']);
      }
    });
    client.on('ready', () => {
      clearTimeout(grace);
      const authenticated = user;
      if (!authenticated) return client.end();
      const principal = { userId: authenticated.id, keyFingerprint };
      // The connection itself is a live session too: with its key gone it must not open new channels.
      let revoked = false;
      live = opts.gateway.openSession?.(principal, () => {
        revoked = true;
        revokedTimer = setTimeout(() => client.end(), REVOKED_GRACE_MS);
        revokedTimer.unref();
      });
      client.on('session', (accept, reject) => {
        if (revoked) return reject();
        try {
          handleSession(accept(), {
            gateway: opts.gateway,
            user: authenticated,
            connectionClosed,
            log,
            source: `ssh ${info.ip}`,
            principal,
          });
        } catch (err) {
          log(`ssh: session setup for ${authenticated.name} failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      });
    });
    // Clients that reset the connection are normal; log, never throw.
    client.on('error', (err: Error) => log(`ssh: connection from ${info.ip}: ${err.message}`));
    client.on('close', () => {
      clearTimeout(grace);
      clearTimeout(revokedTimer);
      live?.close();
      // One record per connection that tried keys and got in with none: ssh offers
      // every key it has, so single refusals are normal and not worth a record.
      if (!user && attempts > 0)
        opts.gateway.authFailed?.({ source: `ssh ${info.ip}`, reason: 'no key of a Slipway user (or a bad signature)' });
      clients.delete(client);
      markClosed();
    });
  });
  server.on('error', (err: Error) => log(`ssh: server error: ${err.message}`));

  const { port, extra } = await listenAll({
    what: 'SSH',
    hosts: opts.hosts ?? WILDCARD_HOSTS,
    port: opts.port,
    listen: (options) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(options, () => {
          server.off('error', reject);
          resolve((server.address() as AddressInfo).port);
        });
      }),
    unlisten: () => new Promise((resolve) => server.close(() => resolve())),
    onConnection: (socket) => server.injectSocket(socket),
  });

  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        void extra.close();
        server.close(() => resolve());
        for (const client of clients) client.end();
      }),
  };
}
