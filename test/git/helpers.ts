import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Readable } from 'node:stream';
import { invalid, notFound, denied } from '../../src/errors.js';
import type { CommandIO, GitGateway } from '../../src/git/gateway.js';
import type { User } from '../../src/store/index.js';

const execFileP = promisify(execFile);

export const tempDir = (prefix: string) => mkdtempSync(join(tmpdir(), `slipway-${prefix}-`));

export interface KeyPair {
  privatePath: string;
  publicKey: string;
  /** As printed by `ssh-keygen -l -E sha256`, to cross-check our own computation. */
  fingerprint: string;
}

export async function keygen(dir: string, name: string): Promise<KeyPair> {
  const privatePath = join(dir, name);
  await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', privatePath]);
  const { stdout } = await execFileP('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${privatePath}.pub`]);
  return { privatePath, publicKey: readFileSync(`${privatePath}.pub`, 'utf8'), fingerprint: stdout.split(' ')[1] };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** ms since start when `watch` first matched stderr, if it did. */
  matchedAt?: number;
  /** ms since start when the process exited. */
  endedAt: number;
}

/** Runs a program (no shell) and collects its output; stderr is read as it comes. */
export function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; watch?: RegExp; onMatch?: () => void } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let matchedAt: number | undefined;
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (matchedAt === undefined && opts.watch?.test(stderr)) {
        matchedAt = Date.now() - started;
        opts.onMatch?.();
      }
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, matchedAt, endedAt: Date.now() - started }));
    child.stdin.end(opts.input ?? '');
  });
}

/** An environment where git and ssh see none of the developer's configuration. */
export function isolatedEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('GIT_') || k === 'SSH_AUTH_SOCK') delete env[k];
  return {
    ...env,
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: 'Test',
    GIT_AUTHOR_EMAIL: 'test@example.com',
    GIT_COMMITTER_NAME: 'Test',
    GIT_COMMITTER_EMAIL: 'test@example.com',
    ...extra,
  };
}

export function sshArgs(key: string, port?: number): string[] {
  const args = ['-F', '/dev/null', '-i', key, '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=no'];
  args.push('-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR');
  if (port !== undefined) args.push('-p', String(port));
  return args;
}

/** A work tree with one commit on `main`. */
export async function workRepo(dir: string, env: NodeJS.ProcessEnv): Promise<string> {
  mkdirSync(dir, { recursive: true });
  await execFileP('git', ['init', '-q', '-b', 'main', dir], { env });
  writeFileSync(join(dir, 'Procfile'), 'web: node server.js\n');
  await execFileP('git', ['add', '.'], { cwd: dir, env });
  await execFileP('git', ['commit', '-q', '-m', 'first'], { cwd: dir, env });
  return dir;
}

export interface TestCall {
  user: string;
  argv: string[];
  tty: boolean;
  sizes: Array<[number, number]>;
}

/**
 * A GitGateway over a folder of bare repos. alice owns every app; bob exists
 * but owns none. The commands answer in ways the tests can check.
 */
export class TestGateway implements GitGateway {
  readonly alice: User = { id: 1, name: 'alice', role: 'member', createdAt: 0 };
  readonly bob: User = { id: 2, name: 'bob', role: 'member', createdAt: 0 };
  readonly keys = new Map<string, User>();
  readonly tokens = new Map<string, User>([
    ['tok-alice', this.alice],
    ['tok-bob', this.bob],
  ]);
  readonly pushes: Array<{ user: string; app: string; closed: boolean }> = [];
  readonly commands: TestCall[] = [];

  constructor(readonly reposDir: string) {}

  async createApp(name: string, preReceive?: string): Promise<string> {
    const repoPath = join(this.reposDir, `${name}.git`);
    await execFileP('git', ['init', '-q', '--bare', '-b', 'main', repoPath]);
    if (preReceive) {
      writeFileSync(join(repoPath, 'hooks', 'pre-receive'), preReceive);
      chmodSync(join(repoPath, 'hooks', 'pre-receive'), 0o755);
    }
    return repoPath;
  }

  userForKey(fingerprint: string): User | undefined {
    return this.keys.get(fingerprint);
  }

  userForToken(token: string): User | undefined {
    return this.tokens.get(token);
  }

  authorizeRepo(user: User, repo: string, _access: 'push' | 'fetch'): { app: string; repoPath: string } {
    const app = repo.replace(/^\/+/, '').replace(/\.git$/, '');
    if (!/^[a-z][a-z0-9-]*$/.test(app)) throw invalid(`invalid app name '${repo}'`);
    const repoPath = join(this.reposDir, `${app}.git`);
    if (!existsSync(repoPath)) throw notFound(`app '${app}'`, 'create it with apps:create');
    if (app === 'locked') throw denied(`you may not access app '${app}'`);
    if (user.id !== this.alice.id) throw notFound(`app '${app}'`);
    return { app, repoPath };
  }

  async openPush(user: User, app: string): Promise<{ env: Record<string, string>; close(): void }> {
    const push = { user: user.name, app, closed: false };
    this.pushes.push(push);
    return { env: { SLIPWAY_PUSH_ID: `push-${this.pushes.length}` }, close: () => void (push.closed = true) };
  }

  /**
   * The last push, once the server has closed it. It closes a push when git's
   * process there ends, which can be a moment after the client has had its
   * answer and exited; a push never closed fails the test.
   */
  async lastPush(timeoutMs = 5000): Promise<{ user: string; app: string; closed: boolean } | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.pushes.at(-1)?.closed === false && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return this.pushes.at(-1);
  }

  async runCommand(user: User, argv: string[], io: CommandIO): Promise<number> {
    const call: TestCall = { user: user.name, argv, tty: io.tty, sizes: [] };
    this.commands.push(call);
    io.onResize?.((cols, rows) => call.sizes.push([cols, rows]));
    switch (argv[0]) {
      case 'echo-test':
        io.stdout.write(`${JSON.stringify(argv)}\n`);
        io.stderr.write('to stderr\n');
        return 3;
      case 'help':
        io.stdout.write(`help for ${user.name} tty=${io.tty}\n`);
        return 0;
      case 'cat':
        return new Promise((resolve) => {
          (io.stdin as Readable).pipe(io.stdout);
          io.stdin.on('end', () => resolve(0));
        });
      case 'big':
        io.stdout.write('x'.repeat(3 * 1024 * 1024) + '\nend\n');
        return 0;
      case 'boom':
        throw new Error('kaboom');
      case 'refuse':
        throw invalid('that is not allowed', 'try something else');
      default:
        io.stderr.write(`unknown command ${argv[0]}\n`);
        return 2;
    }
  }
}

/** A pre-receive hook that speaks, waits 2s, then speaks again. */
/**
 * A hook that prints a line, then waits until the test has seen that line on
 * the client (it creates GATE_FILE) before printing the next. If the receiver
 * held output back until the hook ended, the push would never finish.
 */
export const GATE_FILE = join(tmpdir(), `slipway-hook-gate-${process.pid}`);
export const SLOW_HOOK = `#!/bin/sh\necho "hook: first line push=$SLIPWAY_PUSH_ID"\nwhile [ ! -f "${GATE_FILE}" ]; do sleep 0.1; done\necho "hook: second line"\n`;
