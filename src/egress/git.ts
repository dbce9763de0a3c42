import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { egressError, refuseLocal, resolveChecked, type EgressSettings, type Target } from './policy.js';

/** Where a git URL points: a network transport and its host, or a directory on the server. */
export type GitRemote = { scheme: 'http' | 'https' | 'git' | 'ssh'; host: string; port: number } | { scheme: 'file'; path: string };

const NETWORK = ['http', 'https', 'git', 'ssh'] as const;
const DEFAULT_PORT = { http: 80, https: 443, git: 9418, ssh: 22 };
/** `user@host:path` or `host:path`, git's scp-like ssh syntax (no `/` before the colon). */
const SCP_LIKE = /^(?:[^@/\s]+@)?(\[[^\]/]+\]|[^:/\s[\]]+):(?!\/\/)/;

/**
 * Reads a git URL as git would, and refuses what must never reach git: a
 * leading `-` (git would read an option), `transport::address` forms
 * (`ext::sh -c …` runs a command), and schemes other than http, https, git,
 * ssh and file.
 */
export function parseGitRemote(raw: string, target: Target): GitRemote {
  if (!raw || raw.startsWith('-'))
    throw egressError(target, 'is not a git URL (it must not start with "-")', 'use https://, ssh://, git:// or user@host:path');
  if (/[\0\s]/.test(raw)) throw egressError(target, 'contains spaces or control characters', 'give one URL');
  if (/^[A-Za-z][A-Za-z0-9+.-]*::/.test(raw))
    throw egressError(target, 'uses a git remote helper (transport::address); only http, https, git and ssh are fetched');
  if (raw.startsWith('/')) return { scheme: 'file', path: path.normalize(raw) };
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(raw)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    const scp = SCP_LIKE.exec(raw);
    if (scp) return { scheme: 'ssh', host: scp[1]!.replace(/^\[|\]$/g, ''), port: 22 };
    throw egressError(
      target,
      'is not a git URL',
      'use https://host/repo.git, ssh://host/repo.git, git://host/repo.git or user@host:repo.git',
    );
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw egressError(target, 'is not a valid URL');
  }
  if (scheme === 'file') return { scheme: 'file', path: fileURLToPath(url) };
  // git+ssh:// and ssh+git:// are ssh to git.
  const net = scheme === 'git+ssh' || scheme === 'ssh+git' ? 'ssh' : scheme;
  if (!(NETWORK as readonly string[]).includes(net))
    throw egressError(target, `uses ${scheme}://; only http, https, git and ssh are fetched`);
  const s = net as (typeof NETWORK)[number];
  if (!url.hostname) throw egressError(target, 'names no host');
  return { scheme: s, host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port ? Number(url.port) : DEFAULT_PORT[s] };
}

export interface GitTransport {
  /** Goes before git's subcommand: `git ...args clone …`. */
  args: string[];
  /** Added to git's environment. */
  env: Record<string, string>;
  /** Kill git after this long (the egress total timeout). */
  timeoutMs: number;
}

/**
 * What holds git to the egress rules once it runs: only the allowed
 * transports (file only for an admin's file URL), no HTTP redirects (git
 * would follow one to any address), a stall limit, ssh connect and keepalive
 * limits, no prompts. `pin` makes curl connect to the address that was checked.
 */
export function gitTransport(opts: {
  allowFile: boolean;
  settings: Pick<EgressSettings, 'connectTimeoutMs' | 'idleTimeoutMs' | 'totalTimeoutMs'>;
  pin?: string;
}): GitTransport {
  const protocols = ['http', 'https', 'git', 'ssh', ...(opts.allowFile ? ['file'] : [])];
  const idle = Math.max(1, Math.round(opts.settings.idleTimeoutMs / 1000));
  const connect = Math.max(1, Math.round(opts.settings.connectTimeoutMs / 1000));
  const config = [
    'protocol.allow=never',
    ...protocols.map((p) => `protocol.${p}.allow=always`),
    'http.followRedirects=false',
    'http.lowSpeedLimit=1',
    `http.lowSpeedTime=${idle}`,
    ...(opts.pin ? [`http.curloptResolve=${opts.pin}`] : []),
  ];
  const ssh = `ssh -o BatchMode=yes -o ConnectTimeout=${connect} -o ServerAliveInterval=${Math.max(1, Math.round(idle / 3))} -o ServerAliveCountMax=3`;
  return {
    args: config.flatMap((c) => ['-c', c]),
    env: {
      GIT_ALLOW_PROTOCOL: protocols.join(':'),
      GIT_TERMINAL_PROMPT: '0',
      ...(process.env.GIT_SSH_COMMAND ? {} : { GIT_SSH_COMMAND: ssh }),
    },
    timeoutMs: opts.settings.totalTimeoutMs,
  };
}

/**
 * The use-time check of a git URL: a local one only when trusted (set by an
 * admin); a network one only when its host resolves to allowed addresses.
 * Returns the transport settings to run git with.
 */
export async function gitEgress(opts: { url: string; target: Target; settings: EgressSettings; trusted: boolean }): Promise<GitTransport> {
  const remote = parseGitRemote(opts.url, opts.target);
  if (remote.scheme === 'file') {
    refuseLocal(opts.target, opts.trusted);
    // A repository is a directory, a bundle a regular file; git must not be sent to read anything else.
    const st = await fsp.lstat(remote.path).catch(() => undefined);
    if (st && !st.isDirectory() && !st.isFile())
      throw egressError(
        opts.target,
        'is not a directory or a regular file; only repositories and bundles are read',
        'name a git repository',
      );
    return gitTransport({ allowFile: true, settings: opts.settings });
  }
  const addresses = await resolveChecked(opts.settings, remote.host, opts.target);
  const first = addresses[0]!;
  const pin =
    remote.scheme === 'http' || remote.scheme === 'https'
      ? `${remote.host}:${remote.port}:${first.family === 6 ? `[${first.address}]` : first.address}`
      : undefined;
  return gitTransport({ allowFile: false, settings: opts.settings, pin });
}
