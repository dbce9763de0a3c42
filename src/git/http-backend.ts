// Not execa: git http-backend is a CGI streamed both ways between the request and the response, with backpressure.
import { execFile, spawn } from 'node:child_process';
import { access, constants } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { describe, SlipwayError } from '../errors.js';
import type { User } from '../store/index.js';
import { relayCgiResponse } from './cgi-response.js';
import type { GitGateway } from './gateway.js';
import { gitEnv, safeGitProtocol } from './git-env.js';
import { basicAuthToken } from './http-auth.js';

export interface GitHttpOptions {
  gateway: GitGateway;
  /** Where failures of git http-backend go; default stderr. */
  log?: (msg: string) => void;
  /** Where a request came from (the API's answer, which knows the router); default the socket's address. */
  clientAddress?: (req: IncomingMessage) => string;
}

type Service = 'git-upload-pack' | 'git-receive-pack';

/** A request this handler serves: smart HTTP only, nothing of the dumb protocol. */
interface GitRoute {
  /** The repository segment as written in the URL, without `.git`. */
  repo: string;
  service: Service;
  /** True for the `info/refs` advertisement, false for the POSTed exchange. */
  advertise: boolean;
}

const ROUTE = /^\/git\/([^/]+?)(?:\.git)?\/(info\/refs|git-upload-pack|git-receive-pack)$/;
const SERVICES: readonly string[] = ['git-upload-pack', 'git-receive-pack'];

/** Matches the three smart-HTTP endpoints, or says which status refuses the request. */
export function matchGitRoute(method: string, url: string): GitRoute | { status: number; message: string } {
  const parsed = new URL(url, 'http://slipway.invalid');
  const m = ROUTE.exec(parsed.pathname);
  if (!m) return { status: 404, message: 'not found' };
  const [, repo, endpoint] = m;
  if (endpoint === 'info/refs') {
    const service = parsed.searchParams.get('service') ?? '';
    if (!SERVICES.includes(service)) return { status: 403, message: 'only smart HTTP is served; use git 1.6.6 or newer' };
    if (method !== 'GET') return { status: 404, message: 'not found' };
    return { repo, service: service as Service, advertise: true };
  }
  if (method !== 'POST') return { status: 404, message: 'not found' };
  return { repo, service: endpoint as Service, advertise: false };
}

/**
 * Smart HTTP under `/git/<app>.git/…`, served by `git http-backend` as CGI.
 * Every request — not only `info/refs` — carries an API token (HTTP Basic,
 * token as password) and is authorized by the gateway before git runs.
 * The response streams as git writes it, so hook output during a push shows
 * up on the client (`remote: …`) while the build runs.
 */
export function createGitHttpHandler(opts: GitHttpOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const log = opts.log ?? ((msg: string) => process.stderr.write(`${msg}\n`));
  return (req, res) => {
    serve(req, res, opts, log).catch((err: unknown) => {
      log(`http git: ${req.method} ${req.url} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      if (!res.headersSent) text(res, 500, 'internal error');
      else res.destroy();
    });
  };
}

function text(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache', ...headers });
  res.end(`${body}\n`);
}

const CHALLENGE = { 'WWW-Authenticate': 'Basic realm="Slipway"' };

async function serve(req: IncomingMessage, res: ServerResponse, opts: GitHttpOptions, log: (m: string) => void): Promise<void> {
  const gateway = opts.gateway;
  const route = matchGitRoute(req.method ?? 'GET', req.url ?? '/');
  if ('status' in route) return text(res, route.status, route.message);

  const token = basicAuthToken(req.headers.authorization);
  // git asks without credentials first, to get the challenge: not a failure.
  if (!token) return text(res, 401, 'authentication required: use an API token as the password', CHALLENGE);
  const user = gateway.userForToken(token);
  const address = opts.clientAddress?.(req) ?? req.socket.remoteAddress ?? '';
  const source = `http ${address}`;
  if (!user) {
    gateway.authFailed?.({ source, reason: 'invalid or revoked API token (git over HTTP)' });
    return text(res, 401, 'invalid or revoked API token', CHALLENGE);
  }

  const push = route.service === 'git-receive-pack';
  let target: { app: string; repoPath: string };
  let session: { env: Record<string, string>; close(): void } | undefined;
  try {
    target = gateway.authorizeRepo(user, route.repo, push ? 'push' : 'fetch', source);
    // Only the POST runs receive-pack for real (and its hooks); the
    // advertisement is read-only and needs no push session.
    if (push && !route.advertise) session = await gateway.openPush(user, target.app, source);
  } catch (err) {
    if (err instanceof SlipwayError) return text(res, err.status, describe(err));
    throw err;
  }
  try {
    await runBackend({ req, res, user, route, repoPath: target.repoPath, pushEnv: session?.env, address, log });
  } finally {
    session?.close();
  }
}

interface BackendRun {
  req: IncomingMessage;
  res: ServerResponse;
  user: User;
  route: GitRoute;
  repoPath: string;
  pushEnv?: Record<string, string>;
  address: string;
  log: (m: string) => void;
}

interface Backend {
  command: string;
  args: string[];
  /** git's exec-path, which `git` puts first on PATH: the backend's own `git receive-pack` is then of its install. */
  execPath?: string;
}

let backend: Promise<Backend> | undefined;

/**
 * git's own CGI program, found once in `git --exec-path`: `git http-backend`
 * only execs it, and that exec cost a few ms on each of a push's two
 * requests. Where it is not found, `git http-backend` as before; where it
 * has gone since (git upgraded under a versioned exec-path), it is looked
 * up again for the next request.
 */
function httpBackend(): Promise<Backend> {
  backend ??= new Promise((resolve) => {
    execFile('git', ['--exec-path'], { env: gitEnv() }, (err, stdout) => {
      const execPath = stdout.trim();
      const file = join(execPath, 'git-http-backend');
      const viaGit = { command: 'git', args: ['http-backend'] };
      if (err || !isAbsolute(file)) return resolve(viaGit);
      access(file, constants.X_OK, (missing) => resolve(missing ? viaGit : { command: file, args: [], execPath }));
    });
  });
  return backend;
}

async function runBackend(run: BackendRun): Promise<void> {
  const { req, res, route, log } = run;
  const header = (name: string) => {
    const v = req.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const env = gitEnv({
    ...run.pushEnv,
    GATEWAY_INTERFACE: 'CGI/1.1',
    GIT_PROJECT_ROOT: dirname(run.repoPath),
    GIT_HTTP_EXPORT_ALL: '1',
    // Built from the authorized repo path, never from the URL.
    PATH_INFO: `/${basename(run.repoPath)}/${route.advertise ? 'info/refs' : route.service}`,
    REQUEST_METHOD: route.advertise ? 'GET' : 'POST',
    QUERY_STRING: route.advertise ? `service=${route.service}` : '',
    CONTENT_TYPE: header('content-type') ?? '',
    CONTENT_LENGTH: header('content-length'),
    HTTP_CONTENT_ENCODING: header('content-encoding'),
    HTTP_GIT_PROTOCOL: safeGitProtocol(header('git-protocol')),
    REMOTE_USER: run.user.name,
    REMOTE_ADDR: run.address,
  });

  const { command, args, execPath } = await httpBackend();
  // As through `git http-backend`: with two gits installed, not the other one's receive-pack.
  if (execPath) env.PATH = env.PATH ? `${execPath}:${env.PATH}` : execPath;
  const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.on('error', () => {});
  req.pipe(child.stdin);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    if (stderr.length < 8192) stderr += chunk.toString('utf8');
  });
  res.once('close', () => {
    // A fetch nobody reads is wasted work; a push is left to finish its hooks.
    if (!res.writableFinished && route.service === 'git-upload-pack' && child.exitCode === null) child.kill('SIGTERM');
  });

  const exited = new Promise<number | null>((resolve) => {
    child.once('error', (err) => {
      log(`http git: cannot run git http-backend: ${err.message}`);
      backend = undefined;
      resolve(null);
    });
    child.once('close', (code) => resolve(code));
  });
  const relayed = await relayCgiResponse(child.stdout, res);
  const code = await exited;
  if (code !== 0 || stderr) log(`http git: http-backend ${route.service} for ${run.user.name} exited ${code}: ${stderr.trim()}`);
  if (!relayed.headersSent && !res.headersSent) text(res, 500, 'git http-backend failed (see the server log)');
}
