// Not execa: one long-lived child, asked a line at a time on its stdin.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';
import { isExecutable } from './launch.js';
import { acceptedByUid, loopbackListenerUid } from './listeners.js';

/** The compiled helper (src/guest/socket-owners.c), built by `npm run build` where a C compiler is. */
export const SOCKET_OWNERS = path.join(PACKAGE_ROOT, 'dist', 'guest', 'slipway-socket-owners');

/** A question unanswered this long means the helper is stuck: /proc from then on. */
const ANSWER_MS = 1000;

export interface SocketOwnersOptions {
  /** The helper; default the built one. Without it every answer reads /proc/net/tcp{,6}. */
  helper?: string;
  log?: (msg: string) => void;
}

/**
 * Who owns the loopback sockets a guest's traffic goes to: the uid of the
 * listener a connection to 127.0.0.1:port reaches, and of the socket that
 * accepted a given connection (see listeners.ts for why it matters).
 *
 * Asked of the sock_diag helper, which looks sockets up in the kernel in
 * microseconds; the /proc tables cost ~5 ms a read whatever their length, and
 * block the daemon's event loop meanwhile, every router connection and every
 * up-probe of a starting guest included. When the helper is not built, does
 * not start or says sock_diag is not usable here, the answers come from /proc
 * from then on: the same answers, slower.
 */
export class SocketOwners {
  private child?: ChildProcess;
  private readonly pending: Array<(line: string | undefined) => void> = [];
  private buffered = '';
  private fallback: boolean;

  constructor(private readonly opts: SocketOwnersOptions = {}) {
    this.fallback = !isExecutable(opts.helper ?? SOCKET_OWNERS);
  }

  /** Whether answers come from the helper (false once it failed, or when it is not built). */
  get fast(): boolean {
    return !this.fallback;
  }

  /** The uid of the listener a connection to 127.0.0.1:`port` reaches; undefined when none listens. */
  async listenerUid(port: number): Promise<number | undefined> {
    return this.ask(`L ${port}`, () => loopbackListenerUid(port));
  }

  /** The uid of the socket that accepted the connection from 127.0.0.1:`clientPort` to 127.0.0.1:`serverPort`. */
  async acceptedByUid(serverPort: number, clientPort: number): Promise<number | undefined> {
    return this.ask(`A ${serverPort} ${clientPort}`, () => acceptedByUid(serverPort, clientPort));
  }

  close(): void {
    this.child?.stdin?.end();
    this.child = undefined;
  }

  private async ask(request: string, slow: () => number | undefined): Promise<number | undefined> {
    if (this.fallback) return slow();
    const line = await new Promise<string | undefined>((resolve) => {
      const child = this.helper();
      if (!child) return resolve(undefined);
      // A helper that stopped answering (stopped, stuck) must not hold the router's connections.
      const late = setTimeout(() => this.giveUp(`no answer within ${ANSWER_MS} ms`), ANSWER_MS);
      late.unref();
      this.pending.push((answer) => {
        clearTimeout(late);
        resolve(answer);
      });
      child.stdin!.write(`${request}\n`);
    });
    if (line === undefined || line.startsWith('E')) {
      this.giveUp(line === undefined ? 'it stopped' : `it said: ${line.slice(2)}`);
      return slow();
    }
    return line === '-' ? undefined : Number(line);
  }

  private helper(): ChildProcess | undefined {
    if (this.child) return this.child;
    let child: ChildProcess;
    try {
      child = spawn(this.opts.helper ?? SOCKET_OWNERS, [], { stdio: ['pipe', 'pipe', 'ignore'] });
    } catch (err) {
      this.giveUp(`it did not start: ${(err as Error).message}`);
      return undefined;
    }
    // Never keeps the daemon up; it ends itself when the daemon's end of its input closes.
    child.unref();
    for (const s of [child.stdin, child.stdout]) (s as unknown as { unref?: () => void }).unref?.();
    child.on('error', (err) => this.lost(child, `it did not start: ${err.message}`));
    child.on('exit', () => this.lost(child, 'it stopped'));
    child.stdin!.on('error', () => undefined); // EPIPE once it is gone: 'exit' says so
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      this.buffered += chunk;
      for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        this.pending.shift()?.(line);
      }
    });
    this.child = child;
    return child;
  }

  private lost(child: ChildProcess, why: string): void {
    if (this.child !== child) return;
    this.child = undefined;
    this.giveUp(why);
  }

  private giveUp(why: string): void {
    for (const resolve of this.pending.splice(0)) resolve(undefined);
    if (this.fallback) return;
    this.fallback = true;
    const child = this.child;
    this.close();
    child?.kill('SIGKILL'); // one that is stuck would not read the end of its input
    this.opts.log?.(`socket owners: the sock_diag helper failed (${why}); reading /proc/net/tcp from now on (slower)`);
  }
}
