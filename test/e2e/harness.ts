import crypto from 'node:crypto';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { until } from '../support/wait.js';

export const ROOT = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const BIN = path.join(ROOT, 'bin', 'slipway');
export const EXAMPLES = path.join(ROOT, 'examples');
const CA = '/etc/ssl/certs/ca-certificates.crt';

/**
 * A port no one listens on, picked at random below the kernel's ephemeral range
 * (32768+): a port the kernel handed out for a moment (bind to port 0) is the
 * next one it hands to any outgoing connection, so a server started on it a
 * moment later can find it taken, more so when test lanes run side by side.
 */
export async function freePort(): Promise<number> {
  for (let tried = 0; tried < 200; tried++) {
    const port = 20_000 + crypto.randomInt(12_000);
    if (await bindable(port)) return port;
  }
  throw new Error('no free port in 20000-31999 on 127.0.0.1');
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export function tmpdir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `slipway-${prefix}-`));
}

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** A real `slipway server` child process with its own home and ports. */
export class TestServer {
  proc?: ChildProcess;
  output = '';
  adminToken = '';
  /** Set when the daemon exited without being told to (a crash): see assertAlive. */
  died?: string;
  private expectingExit = false;

  private constructor(
    readonly home: string,
    readonly ports: { ssh: number; http: number; router: number; routerTls: number },
    readonly extraEnv: Record<string, string>,
  ) {}

  /** `ports` fixes some ports in advance (a test CA must know the router's before the server starts). */
  static async start(
    opts: { home?: string; env?: Record<string, string>; ports?: Partial<TestServer['ports']> } = {},
  ): Promise<TestServer> {
    for (let attempt = 1; ; attempt++) {
      const ports = {
        ssh: await freePort(),
        http: await freePort(),
        router: await freePort(),
        routerTls: await freePort(),
        ...opts.ports,
      };
      const server = new TestServer(opts.home ?? tmpdir('home'), ports, opts.env ?? {});
      try {
        await server.boot();
        return server;
      } catch (err) {
        // Another program took a port between the pick and the bind: a fresh home and fresh ports
        // (a given home may already hold the first start's admin token, shown once).
        if (opts.home || attempt === 3 || !/EADDRINUSE/.test(String(err))) throw err;
      }
    }
  }

  get env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      SLIPWAY_HOME: this.home,
      // A developer's own `slipway login` must not send the suite's commands to their server.
      XDG_CONFIG_HOME: path.join(this.home, 'xdg'),
      SLIPWAY_SSH_PORT: String(this.ports.ssh),
      SLIPWAY_HTTP_PORT: String(this.ports.http),
      SLIPWAY_ROUTER_PORT: String(this.ports.router),
      SLIPWAY_ROUTER_TLS_PORT: String(this.ports.routerTls),
      SLIPWAY_PUBLIC_HOST: '127.0.0.1',
      SLIPWAY_BIND: '127.0.0.1',
      SLIPWAY_HEALTH_TIMEOUT: '15',
      SLIPWAY_STOP_GRACE: '5',
      // The default (auto) would pick nginx wherever it is installed: suites ask for it by name.
      SLIPWAY_ROUTER: 'builtin',
      ...(fs.existsSync(CA) ? { SLIPWAY_EXTRA_CA_BUNDLE: CA } : {}),
      ...this.extraEnv,
    };
  }

  /** Starts (or restarts) the daemon and waits for its "is running" line. */
  async boot(): Promise<void> {
    this.output = '';
    this.died = undefined;
    this.expectingExit = false;
    const proc = spawn(BIN, ['server'], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    let ready = false;
    // Any exit nobody asked for is a crash, whatever the test was doing when it happened.
    proc.on('exit', (code, signal) => {
      if (ready && !this.expectingExit && this.proc === proc)
        this.died = `slipway server died (${signal ?? `exit ${code}`}):\n${this.output.slice(-4000)}`;
    });
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer) => {
        this.output += d.toString();
        const m = /admin API token \(shown once, keep it\): (\S+)/.exec(this.output);
        if (m) this.adminToken = m[1]!;
        if (/Slipway .* is running/.test(this.output)) {
          ready = true;
          resolve();
        }
      };
      proc.stdout!.on('data', onData);
      proc.stderr!.on('data', onData);
      proc.on('exit', (code) => reject(new Error(`slipway server exited (${code}) before it was ready:\n${this.output}`)));
    });
  }

  /** Throws (with the daemon's last output) if it exited on its own since it started. */
  assertAlive(what = 'the test'): void {
    if (this.died) throw new Error(`during ${what}: ${this.died}`);
  }

  /** SIGTERM and wait, as an operator's `systemctl stop` would; fails if the daemon had died by itself. */
  async stop(): Promise<void> {
    const proc = this.proc;
    this.expectingExit = true;
    this.assertAlive('the suite');
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
  }

  async kill9(): Promise<void> {
    const proc = this.proc;
    this.expectingExit = true;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  }

  /** Runs the real CLI on the server host (it talks to the daemon over control.sock). */
  cli(args: string[], input?: string): Result {
    const r = spawnSync(BIN, args, { env: this.env, input, encoding: 'utf8', timeout: 120_000 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /**
   * The CLI without blocking this process: for work that must overlap other
   * activity in the test (a load generator, a second client).
   */
  cliAsync(args: string[]): Promise<Result> {
    return new Promise((resolve) => {
      const child = spawn(BIN, args, { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
  }

  /** A GET through the router, as a browser for APP.localhost would send it. */
  get(app: string, urlPath = '/'): Promise<{ status: number; body: string }> {
    return httpGet({ port: this.ports.router, host: `${app}.localhost`, path: urlPath });
  }

  sshRemote(app: string): string {
    return `ssh://slipway@127.0.0.1:${this.ports.ssh}/${app}.git`;
  }

  httpRemote(app: string, token?: string): string {
    return `http://${token ? `git:${token}@` : ''}127.0.0.1:${this.ports.http}/git/${app}.git`;
  }
}

export function httpGet(opts: {
  port: number;
  host: string;
  path?: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent: false,
        host: '127.0.0.1',
        port: opts.port,
        path: opts.path ?? '/',
        method: opts.method ?? 'GET',
        headers: { host: opts.host, ...opts.headers },
      },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.setTimeout(60_000, () => req.destroy(new Error(`GET ${opts.host}${opts.path ?? '/'}: no answer in 60 s`)));
    req.end(opts.body);
  });
}

/** A fresh OpenSSH key pair, and the GIT_SSH_COMMAND that uses only it. */
export function sshKey(dir = tmpdir('key')): { key: string; pub: string; sshCommand: string } {
  const key = path.join(dir, 'id_ed25519');
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'test@slipway', '-f', key]);
  if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
  return {
    key,
    pub: `${key}.pub`,
    sshCommand: `ssh -i ${key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes`,
  };
}

export function sshArgs(key: string, port: number): string[] {
  return [
    '-i',
    key,
    '-p',
    String(port),
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'LogLevel=ERROR',
    '-o',
    'BatchMode=yes',
    'slipway@127.0.0.1',
  ];
}

export function ssh(key: string, port: number, command: string[], input?: string): Result {
  const r = spawnSync('ssh', [...sshArgs(key, port), ...command], { input, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A git work tree holding a copy of an example app, committed on `main`. */
export function appRepo(example: string): string {
  const dir = tmpdir('repo');
  const fixture = path.join(ROOT, 'test', 'fixtures', example);
  fs.cpSync(fs.existsSync(fixture) ? fixture : path.join(EXAMPLES, example), dir, { recursive: true });
  git(dir, ['init', '-q', '-b', 'main']);
  commitAll(dir, 'first');
  return dir;
}

export function git(dir: string, args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Result {
  const r = spawnSync('git', ['-c', 'user.name=Test', '-c', 'user.email=test@example.com', ...args], {
    cwd: dir,
    input,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 180_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function commitAll(dir: string, message: string): string {
  git(dir, ['add', '-A']);
  const r = git(dir, ['commit', '-q', '--allow-empty', '-m', message]);
  if (r.code !== 0) throw new Error(`commit failed: ${r.stderr}`);
  return git(dir, ['rev-parse', 'HEAD']).stdout.trim();
}

export function setMessage(dir: string, text: string): string {
  fs.writeFileSync(path.join(dir, 'message.txt'), `${text}\n`);
  return commitAll(dir, `say ${text}`);
}

/** Adds a buildpack of the test's own to the repo and names it in `.buildpacks`; commits nothing. */
export function addBuildpack(repo: string, name: string, compile: string): void {
  const bin = path.join(repo, name, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  fs.writeFileSync(path.join(bin, 'detect'), `#!/bin/sh\necho ${name}\n`, { mode: 0o755 });
  fs.writeFileSync(path.join(bin, 'compile'), `#!/bin/sh\n${compile}\n`, { mode: 0o755 });
  fs.writeFileSync(path.join(bin, 'release'), '#!/bin/sh\necho "--- {}"\n', { mode: 0o755 });
  fs.writeFileSync(path.join(repo, '.buildpacks'), `./${name}\n`);
}

/** `git push` as a user types it; resolves with exit code and everything git printed. */
export function push(dir: string, remote: string, opts: { sshCommand?: string; ref?: string; args?: string[] } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn('git', ['push', ...(opts.args ?? []), remote, opts.ref ?? 'main'], {
      cwd: dir,
      env: { ...process.env, GIT_SSH_COMMAND: opts.sshCommand ?? 'false', GIT_TERMINAL_PROMPT: '0' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    // A push that hangs fails its test here, with what it printed, rather than at the test's timeout with nothing.
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, PUSH_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({
        code: code ?? -1,
        stdout,
        stderr: hung ? `${stderr}\n[harness: git push did not end in ${PUSH_TIMEOUT_MS / 1000} s]` : stderr,
      });
    });
  });
}

const PUSH_TIMEOUT_MS = 300_000;

/** Polls until `fn` returns true; errors (a server not up yet) count as "not yet". Never used to assert durations. */
export async function eventually(fn: () => Promise<boolean> | boolean, what: string, timeoutMs = 30_000): Promise<void> {
  await until(
    what,
    () =>
      Promise.resolve()
        .then(fn)
        .catch(() => false),
    timeoutMs,
  );
}

/**
 * Mocha hooks for a suite that shares one server and one admin SSH key:
 * `const env = useServer();` then `env.server`, `env.key` inside tests.
 */
/** Creates `app` and pushes `examples/procfile-hello` to it with a `.slipway/<stage>` hook running `script` (sh). */
export function pushWithHook(
  env: { server: TestServer; key: ReturnType<typeof sshKey> },
  app: string,
  stage: string,
  script: string,
): { repo: string; pushing: Promise<Result> } {
  const created = env.server.cli(['apps:create', app]);
  if (created.code !== 0) throw new Error(`apps:create ${app} failed: ${created.stderr}`);
  const repo = appRepo('procfile-hello');
  fs.mkdirSync(path.join(repo, '.slipway'), { recursive: true });
  fs.writeFileSync(path.join(repo, '.slipway', stage), `#!/bin/sh\n${script}\n`, { mode: 0o755 });
  setMessage(repo, `${app} v1`);
  return { repo, pushing: push(repo, env.server.sshRemote(app), { sshCommand: env.key.sshCommand }) };
}

export function useServer(opts: { env?: Record<string, string> } = {}): { server: TestServer; key: ReturnType<typeof sshKey> } {
  const ctx = {} as { server: TestServer; key: ReturnType<typeof sshKey> };
  before(async function () {
    this.timeout(60_000);
    ctx.server = await TestServer.start(opts);
    ctx.key = sshKey();
    const added = ctx.server.cli(['keys:add', ctx.key.pub]);
    if (added.code !== 0) throw new Error(`keys:add failed: ${added.stderr}`);
  });
  // The process-level guard: a test after which the daemon is gone fails, naming the test.
  afterEach(function () {
    ctx.server?.assertAlive(`"${this.currentTest?.fullTitle()}"`);
  });
  after(async () => ctx.server?.stop());
  return ctx;
}

/**
 * Serves HTTP and, on /flood/start, runs `yes` on its own stdout: the fastest
 * flood a process can make. The app stops it on /flood/stop (and on its own
 * after a minute, should a test die halfway).
 */
export function floodRepo(): string {
  const dir = tmpdir('flood');
  fs.writeFileSync(path.join(dir, 'Procfile'), 'web: node server.js\n');
  fs.writeFileSync(
    path.join(dir, 'server.js'),
    `const http = require('http');
const { spawn } = require('child_process');
let yes;
const stop = () => { if (yes) yes.kill(); yes = undefined; };
http.createServer((req, res) => {
  if (req.url === '/flood/start' && !yes) {
    yes = spawn('yes', ['flood'], { stdio: ['ignore', 'inherit', 'ignore'] });
    setTimeout(stop, 60000).unref();
    return res.end('flooding');
  }
  if (req.url === '/flood/stop') { stop(); return res.end('stopped'); }
  res.end('flood app');
}).listen(Number(process.env.PORT));
`,
  );
  git(dir, ['init', '-q', '-b', 'main']);
  commitAll(dir, 'flood');
  return dir;
}
