import fs from 'node:fs';
import net from 'node:net';
import readline from 'node:readline';
import { PassThrough, type Writable } from 'node:stream';
import { describe } from '../errors.js';
import { relayTo } from '../logs/relay.js';

/** One message of the control protocol: newline-delimited JSON in both directions. */
export type ControlRequest =
  | { type: 'command'; argv: string[] }
  | { type: 'hook'; hook: 'pre-receive' | 'post-receive'; pushId: string; refs: RefUpdate[]; gitEnv?: Record<string, string> }
  | { type: 'stdin'; data: string }
  | { type: 'stdin-end' };

export interface RefUpdate {
  oldrev: string;
  newrev: string;
  ref: string;
}

export interface ControlIO {
  stdin: PassThrough;
  stdout: Writable;
  stderr: Writable;
  /** Aborted when the client disconnects, or the server closes: ends commands that run until interrupted (`logs -f`). */
  signal: AbortSignal;
}

export interface ControlHandlers {
  /** A host command; whoever can open the socket is the server's OS user, so it runs as admin. */
  command(argv: string[], io: ControlIO): Promise<number>;
  hook(req: Extract<ControlRequest, { type: 'hook' }>, io: ControlIO): Promise<number>;
}

/**
 * The daemon's control socket (mode 0600): git hooks and host-side CLI
 * commands talk to the daemon through it. File permissions are the
 * authentication: only the server's own OS user (and root) can connect.
 */
export async function startControlSocket(file: string, handlers: ControlHandlers): Promise<net.Server> {
  await removeStaleSocket(file);
  // net.Server#close waits for every connection to end; a `logs -f` never
  // would, so closing the server first tells such commands to finish.
  const closing = new AbortController();
  const server = net.createServer((socket) => serve(socket, handlers, closing.signal));
  const close = server.close.bind(server);
  server.close = (cb) => {
    closing.abort();
    return close(cb);
  };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const old = process.umask(0o177);
    server.listen(file, () => {
      process.umask(old);
      resolve();
    });
  });
  fs.chmodSync(file, 0o600);
  return server;
}

async function removeStaleSocket(file: string): Promise<void> {
  if (!fs.existsSync(file)) return;
  const alive = await new Promise<boolean>((resolve) => {
    const s = net.connect(file, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
  if (alive) throw new Error(`a Slipway server is already running with this home (${file} answers); stop it first`);
  fs.rmSync(file, { force: true });
}

function serve(socket: net.Socket, handlers: ControlHandlers, serverClosing: AbortSignal): void {
  const send = (msg: object) => {
    if (!socket.destroyed) socket.write(JSON.stringify(msg) + '\n');
  };
  // A write completes once the socket took it: `logs -f` to a client that
  // reads slowly then waits (its follow has backpressure) instead of piling
  // the log up in the socket's buffer.
  const stream = (type: 'stdout' | 'stderr') => relayTo(socket, (chunk) => JSON.stringify({ type, data: chunk.toString() }) + '\n');
  const gone = new AbortController();
  const abort = () => gone.abort();
  serverClosing.addEventListener('abort', abort, { once: true });
  const io: ControlIO = { stdin: new PassThrough(), stdout: stream('stdout'), stderr: stream('stderr'), signal: gone.signal };
  let started = false;
  socket.on('error', () => undefined);
  socket.on('close', () => {
    io.stdin.end();
    serverClosing.removeEventListener('abort', abort);
    abort();
  });
  const lines = readline.createInterface({ input: socket, crlfDelay: Infinity });
  // readline re-emits the socket's errors: a client that vanishes with output
  // unread (ECONNRESET) must not take the daemon down.
  lines.on('error', () => undefined);
  lines.on('line', (line) => {
    let msg: ControlRequest;
    try {
      msg = JSON.parse(line);
    } catch {
      return socket.destroy();
    }
    if (msg.type === 'stdin') return void io.stdin.write(msg.data);
    if (msg.type === 'stdin-end') return void io.stdin.end();
    if (started) return;
    started = true;
    const work =
      msg.type === 'command' && Array.isArray(msg.argv)
        ? handlers.command(msg.argv.map(String), io)
        : msg.type === 'hook'
          ? handlers.hook(msg, io)
          : Promise.resolve(2);
    work
      .catch((err) => {
        send({ type: 'stderr', data: ` !     ${describe(err)}\n` });
        return 1;
      })
      .then((code) => {
        send({ type: 'exit', code });
        socket.end();
      });
  });
}
