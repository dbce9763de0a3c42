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
 * Neither side ever blocks on the other's absence: the hook opens `refs`
 * read-write (the open cannot wait, and its writes cannot break a pipe), and
 * the daemon holds `log` open from the start, so the hook's read of it opens
 * at once and ends when the daemon closes it, or dies.
 */
export interface HookPipes {
  /** For the hook: `$SLIPWAY_PUSH_PIPES`. */
  dir: string;
  /** Ends the relay (the deploy runs on) and removes the FIFOs; once receive-pack has exited. */
  close(): void;
}

/** Runs `serve` with the refs once the hook has written them, its output going to the hook's `log`. */
export async function openHookPipes(dir: string, serve: (refs: RefUpdate[], io: ControlIO) => Promise<number>): Promise<HookPipes> {
  await fsp.mkdir(path.dirname(dir), { recursive: true, mode: 0o700 });
  await fsp.mkdir(dir, { mode: 0o700 });
  const refsFile = path.join(dir, 'refs');
  const logFile = path.join(dir, 'log');
  try {
    await execa('mkfifo', ['-m', '600', refsFile, logFile]);
  } catch (err) {
    await fsp.rm(dir, { recursive: true, force: true });
    throw err;
  }
  // Non-blocking opens: a reader of a FIFO without a writer would wait in the thread pool.
  const refsIn = new net.Socket({
    fd: fs.openSync(refsFile, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK),
    readable: true,
    writable: false,
  });
  const logOut = new net.Socket({
    fd: fs.openSync(logFile, fs.constants.O_RDWR | fs.constants.O_NONBLOCK),
    readable: false,
    writable: true,
  });
  const gone = new AbortController();
  refsIn.on('error', () => undefined);
  logOut.on('error', () => gone.abort());
  logOut.on('close', () => gone.abort());

  let input = '';
  refsIn.setEncoding('utf8');
  refsIn.on('data', (chunk: string) => {
    input += chunk;
    // A line per ref pushed: even a push of every tag of a big project is far below this.
    if (input.length > 64 * 1024 * 1024) {
      refsIn.destroy();
      logOut.end(' !     The push updates more refs than Slipway reads in one push; push fewer at a time.\n');
    }
  });
  refsIn.on('end', () => {
    const io: ControlIO = { stdin: new PassThrough(), stdout: relayTo(logOut), stderr: relayTo(logOut), signal: gone.signal };
    io.stdin.end();
    void serve(parseRefs(input), io)
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

/** git's `OLD NEW REF` lines. */
function parseRefs(input: string): RefUpdate[] {
  return input
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [oldrev = '', newrev = '', ref = ''] = l.split(' ');
      return { oldrev, newrev, ref };
    });
}

/**
 * Hooks of pushes a crashed daemon left waiting on their `log`: opening it
 * for writing and closing it again ends their read, so they and their
 * receive-pack exit. Then the FIFOs go.
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
    const log = path.join(parent, name.name, 'log');
    try {
      fs.closeSync(fs.openSync(log, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
      n++;
    } catch {
      // ENXIO: nobody reads it any more.
    }
    fs.rmSync(path.join(parent, name.name), { recursive: true, force: true });
  }
  return n;
}
