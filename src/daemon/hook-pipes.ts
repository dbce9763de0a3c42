import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { execa } from 'execa';
import { relayTo } from '../logs/relay.js';
import type { ControlIO, RefUpdate } from './control.js';

/**
 * A push's post-receive through two FIFOs, for `hooks/post-receive-piped`: a
 * shell script where the node client (hooks/client.mjs) would cost a node
 * start, the slowest part of a hook (~0.1 s, more under load). The hook
 * writes git's ref lines into `refs` and relays `log` to the pusher until the
 * daemon closes it.
 *
 * Neither side waits on the other's absence for long: the daemon holds `log`
 * open from the start, so the hook's read of it opens at once and ends when
 * the daemon closes it or dies; the hook opens `log` before it writes `refs`
 * (read-write: the open cannot wait, its writes cannot break a pipe) and ends
 * the list with `.`; the daemon reads `refs` to its end whatever it holds. A
 * daemon killed in between leaves hooks that the next start ends.
 */
export interface HookPipes {
  /** For the hook: `$SLIPWAY_PUSH_PIPES`. */
  dir: string;
  /** Ends the relay (the deploy runs on) and removes the FIFOs; once receive-pack has exited. */
  close(): void;
}

/** Runs `serve` with the refs once the hook has written them, its output going to the hook's `log`. */
export async function openHookPipes(dir: string, serve: (refs: RefUpdate[], io: ControlIO) => Promise<number>): Promise<HookPipes> {
  await takeFifos(dir);
  const refsFile = path.join(dir, 'refs');
  const logFile = path.join(dir, 'log');
  // Non-blocking opens: a reader of a FIFO without a writer would wait in the thread pool.
  const fds: number[] = [];
  try {
    fds.push(fs.openSync(refsFile, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK));
    fds.push(fs.openSync(logFile, fs.constants.O_RDWR | fs.constants.O_NONBLOCK));
  } catch (err) {
    for (const fd of fds) fs.closeSync(fd);
    await fsp.rm(dir, { recursive: true, force: true });
    throw err;
  }
  const refsIn = new net.Socket({ fd: fds[0], readable: true, writable: false });
  const logOut = new net.Socket({ fd: fds[1], readable: false, writable: true });
  const gone = new AbortController();
  refsIn.on('error', () => logOut.end(" !     The push's refs could not be read; nothing was deployed.\n"));
  logOut.on('error', () => gone.abort());
  logOut.on('close', () => gone.abort());

  let input = '';
  let tooMany = false;
  refsIn.setEncoding('utf8');
  refsIn.on('data', (chunk: string) => {
    // A line per ref pushed: even a push of every tag of a big project is far below this. Past it
    // the rest is read and dropped, never left unread: the hook would wait on a full FIFO for ever.
    if (tooMany || input.length + chunk.length > MAX_REFS_BYTES) tooMany = true;
    else input += chunk;
  });
  refsIn.on('end', () => {
    const io: ControlIO = { stdin: new PassThrough(), stdout: relayTo(logOut), stderr: relayTo(logOut), signal: gone.signal };
    io.stdin.end();
    const refs = tooMany ? undefined : parseRefs(input);
    if (!refs) {
      const why = tooMany
        ? 'The push updates more refs than Slipway reads in one push; push fewer at a time'
        : 'The hook ended before it sent every ref';
      return void logOut.end(` !     ${why}; nothing was deployed.\n`);
    }
    void serve(refs, io)
      .catch((err) => {
        io.stderr.write(` !     ${(err as Error).message}\n`);
        return 1;
      })
      .finally(() => logOut.end());
  });

  let closed = false;
  return {
    dir,
    close() {
      if (closed) return;
      closed = true;
      gone.abort();
      refsIn.destroy();
      logOut.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const MAX_REFS_BYTES = 64 * 1024 * 1024;

/**
 * A pair of FIFOs made ahead, per parent dir. Node has no mkfifo: it is a
 * process, 12–30 ms on a 2-core machine, and was on the way of every push. A
 * push renames the waiting pair to its own dir and the next one is made
 * behind it. A spare left by a killed daemon is a dir like any push's, which
 * hangUpLeftoverPipes removes at the next start.
 */
const spares = new Map<string, Promise<string | undefined>>();

async function takeFifos(dir: string): Promise<void> {
  const parent = path.dirname(dir);
  await fsp.mkdir(parent, { recursive: true, mode: 0o700 });
  const spare = spares.get(parent);
  const next = path.join(parent, `spare-${crypto.randomBytes(8).toString('hex')}`);
  spares.set(
    parent,
    makeFifos(next).then(
      () => next,
      () => undefined,
    ),
  );
  const ready = await spare;
  if (ready) {
    try {
      await fsp.rename(ready, dir);
      return;
    } catch {
      // Gone (a parent removed under it): make this push's own.
    }
  }
  await makeFifos(dir);
}

async function makeFifos(dir: string): Promise<void> {
  await fsp.mkdir(dir, { mode: 0o700 });
  try {
    await execa('mkfifo', ['-m', '600', path.join(dir, 'refs'), path.join(dir, 'log')]);
  } catch (err) {
    await fsp.rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * git's `OLD NEW REF` lines, then the hook's `.` line: without it the hook was
 * stopped mid-way, and a list cut short could name another ref than was pushed.
 */
function parseRefs(input: string): RefUpdate[] | undefined {
  if (!(input === '.\n' || input.endsWith('\n.\n'))) return undefined;
  return input
    .slice(0, -2)
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [oldrev = '', newrev = '', ref = ''] = l.split(' ');
      return { oldrev, newrev, ref };
    });
}

/**
 * Hooks of pushes a crashed daemon left waiting: on `log` (opening it for
 * writing and closing it again ends their wait and their read), or on a full
 * `refs` (read to its end). They and their receive-pack then exit, and the
 * FIFOs go. Call once this server owns the home (control.sock is its own).
 */
export function hangUpLeftoverPipes(parent: string): number {
  let n = 0;
  let dirs: fs.Dirent[];
  try {
    dirs = fs.readdirSync(parent, { withFileTypes: true }).filter((e) => e.isDirectory());
  } catch {
    return 0;
  }
  for (const name of dirs) {
    const dir = path.join(parent, name.name);
    let waited = false;
    try {
      fs.closeSync(fs.openSync(path.join(dir, 'log'), fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
      waited = true;
    } catch {
      // ENXIO: nobody reads it any more.
    }
    if (drain(path.join(dir, 'refs'))) waited = true;
    if (waited) n++;
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return n;
}

/**
 * Reads a FIFO to its end and drops what it holds; true when a writer was
 * there. What a writer still sends is read as it comes, until it closes.
 */
function drain(fifo: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch {
    return false;
  }
  const buf = Buffer.alloc(64 * 1024);
  let read = false;
  try {
    while (fs.readSync(fd, buf) > 0) read = true;
    // End of file: no writer holds it (any more).
    fs.closeSync(fd);
    return read;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') {
      fs.closeSync(fd);
      return read;
    }
  }
  const rest = new net.Socket({ fd, readable: true, writable: false });
  rest.on('error', () => rest.destroy());
  rest.on('end', () => rest.destroy());
  rest.resume();
  return true;
}
