import net from 'node:net';
import { SlipwayError, invalid } from './errors.js';

/**
 * Where Slipway's ports listen (`--bind`). By default both wildcards: a
 * client that reaches `localhost` over IPv6 must find Slipway there, not
 * whatever other local program got to `[::]:PORT` first. Each address gets
 * its own socket, IPv6 ones with `ipv6Only`, so a program already holding
 * either family's port is an error at start instead of half the traffic.
 */
export interface BindPlan {
  /** IP addresses, each listened on by its own socket. */
  hosts: string[];
  /** No `--bind`: the two wildcards, and IPv6 may be left out on a host without it (see `resolveBind`). */
  wildcard: boolean;
}

export const WILDCARD_HOSTS = ['0.0.0.0', '::'];

/** `--bind` as given: a comma-separated list of IP addresses (`[::1]` allowed); empty or absent means both wildcards. */
export function parseBind(value: string | undefined): BindPlan {
  if (value === undefined || value.trim() === '') return { hosts: [...WILDCARD_HOSTS], wildcard: true };
  const hosts: string[] = [];
  for (const item of value.split(',')) {
    const host = item.trim().replace(/^\[(.*)\]$/, '$1');
    if (net.isIP(host) === 0) {
      throw invalid(
        `--bind ${JSON.stringify(item.trim().slice(0, 60))} is not an IP address`,
        'name IP addresses, comma-separated (127.0.0.1,::1), or leave --bind out for every IPv4 and IPv6 address',
      );
    }
    if (!hosts.includes(host)) hosts.push(host);
  }
  return { hosts, wildcard: false };
}

/**
 * The hosts to listen on. Addresses named with `--bind` are taken as they
 * are (any failure to bind them stops the start). With the default, a host
 * whose kernel has no IPv6 at all keeps IPv4 only, and `log` says so once.
 */
export async function resolveBind(plan: BindPlan, log: (line: string) => void): Promise<string[]> {
  if (!plan.wildcard) return plan.hosts;
  const err = await probeBind('::');
  if (err?.code !== 'EAFNOSUPPORT' && err?.code !== 'EADDRNOTAVAIL') return plan.hosts;
  log(`-----> IPv6 is not available on this host (${err.code}): listening on IPv4 only (--bind names the addresses to use)`);
  return plan.hosts.filter((h) => !net.isIPv6(h));
}

/** `host:port` as people write it: `[::]:7000`, `0.0.0.0:7000`. */
export function hostPort(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The one line a failed bind stops the start with. */
export function bindError(what: string, host: string, port: number, err: NodeJS.ErrnoException): SlipwayError {
  const reasons: Record<string, string> = {
    EADDRINUSE: 'another program is listening there',
    EACCES: 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)',
    EADDRNOTAVAIL: 'this host has no such address',
    EAFNOSUPPORT: 'this host has no IPv6',
  };
  const reason = reasons[err.code ?? ''] ?? err.message;
  return new SlipwayError('bind_failed', `cannot listen on ${hostPort(host, port)} for ${what}: ${reason} (${err.code ?? 'error'})`, {
    status: 500,
    hint: 'stop what holds the port, choose another port, or name the addresses to use with --bind',
    cause: err,
  });
}

/** `listen` options for one address; IPv6 sockets never take IPv4 (see BindPlan). */
export function listenOptions(host: string, port: number): net.ListenOptions {
  return { host, port, ipv6Only: net.isIPv6(host) };
}

export interface ExtraListeners {
  close(): Promise<void>;
}

/**
 * One server on every host of `hosts`: `listen` binds the server's own socket
 * on the first (and says which port it got, for port 0), `listenExtra` the
 * rest on that same port. Any failure is `bindError`'s one line, and nothing
 * is left listening.
 */
export async function listenAll(opts: {
  what: string;
  hosts: string[];
  port: number;
  listen: (options: net.ListenOptions) => Promise<number>;
  /** Undoes `listen` when a later host fails. */
  unlisten: () => Promise<void>;
  onConnection: (socket: net.Socket) => void;
  serverOptions?: net.ServerOpts;
}): Promise<{ port: number; extra: ExtraListeners }> {
  const [first, ...rest] = opts.hosts;
  if (first === undefined) throw invalid(`nothing to listen on for ${opts.what}`, 'name at least one address with --bind');
  const port = await opts.listen(listenOptions(first, opts.port)).catch((err: NodeJS.ErrnoException) => {
    throw err instanceof SlipwayError ? err : bindError(opts.what, first, opts.port, err);
  });
  try {
    return { port, extra: await listenExtra({ ...opts, hosts: rest, port }) };
  } catch (err) {
    await opts.unlisten().catch(() => undefined);
    throw err;
  }
}

/**
 * Listens on `hosts` besides the one a server already listens on, handing
 * every connection accepted there to `onConnection` (an http.Server's
 * 'connection', ssh2's `injectSocket`): one server, several sockets.
 * `serverOptions` should match the server's own (http: `allowHalfOpen`).
 */
export async function listenExtra(opts: {
  what: string;
  hosts: string[];
  port: number;
  onConnection: (socket: net.Socket) => void;
  serverOptions?: net.ServerOpts;
}): Promise<ExtraListeners> {
  const servers: net.Server[] = [];
  const close = () => Promise.all(servers.map((s) => new Promise((r) => s.close(() => r(undefined))))).then(() => undefined);
  try {
    for (const host of opts.hosts) {
      const server = net.createServer(opts.serverOptions ?? {}, opts.onConnection);
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) => reject(bindError(opts.what, host, opts.port, err)));
        server.listen(listenOptions(host, opts.port), () => resolve());
      });
      servers.push(server);
      // Accept errors later on (EMFILE) are the kernel's to retry; never a crash.
      server.on('error', () => undefined);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { close };
}

/** Binds `host` on a free port and lets go at once: what an address cannot do shows up as the error. */
export function probeBind(host: string, port = 0): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err));
    server.listen(listenOptions(host, port), () => server.close(() => resolve(undefined)));
  });
}
