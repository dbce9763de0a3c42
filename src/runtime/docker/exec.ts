import { PassThrough, type Duplex } from 'node:stream';
import type Docker from 'dockerode';
import type { ExecRequest } from '../driver.js';
import { EXEC_LAUNCHER } from '../command.js';
import { oneOffCreateOptions, type Confined, type GuestOptions } from './container-spec.js';
import { ownScratch, removeGuest } from '../../docker/guest.js';

/**
 * Types the end of input as ^D, as a user would: with a TTY the engine ends the
 * whole session (output too) on a half-close. The terminal lives in the
 * container, so the output is all there is to go by: ^D waits until it has been
 * quiet a moment (bash echoes the line it read before it leaves the line
 * editor, and a ^D that lands while a command runs is later read by readline
 * as a NUL), and is typed again each further second it stays quiet — or every
 * two seconds, when a job in the background never lets the output rest.
 */
export class EofTypist {
  private lastOutput = performance.now();
  private lastTyped = 0;
  private typed = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly onOutput = () => void (this.lastOutput = performance.now());

  constructor(private readonly stream: Duplex) {
    stream.on('data', this.onOutput);
  }

  inputEnded(): void {
    this.lastTyped = performance.now();
    this.timer ??= setInterval(() => {
      const now = performance.now();
      const quiet = now - this.lastOutput >= (this.typed ? 1000 : 300);
      if ((!quiet && now - this.lastTyped < 2000) || !this.stream.writable) return;
      this.stream.write('\x04');
      this.typed++;
      this.lastOutput = this.lastTyped = now;
    }, 100);
  }

  stop(): void {
    clearInterval(this.timer);
    this.stream.off('data', this.onOutput);
  }
}

/**
 * Wires a hijacked engine stream to the request's streams: stdin in (its end
 * half-closes the socket, so `bash` sees EOF, or is typed as ^D with a TTY),
 * output out — raw with a TTY, demultiplexed into stdout/stderr without one.
 */
function wire(docker: Docker, stream: Duplex, req: ExecRequest): Promise<void> {
  const typist = req.tty ? new EofTypist(stream) : undefined;
  if (req.tty) {
    stream.pipe(req.stdout, { end: false });
  } else {
    const out = new PassThrough();
    const err = new PassThrough();
    out.pipe(req.stdout, { end: false });
    err.pipe(req.stderr, { end: false });
    docker.modem.demuxStream(stream, out, err);
  }
  const onData = (d: Buffer) => stream.write(d);
  const onEnd = () => (typist ? typist.inputEnded() : stream.end());
  req.stdin.on('data', onData);
  req.stdin.on('end', onEnd);
  return new Promise<void>((resolve) => {
    const done = () => {
      req.stdin.off('data', onData);
      req.stdin.off('end', onEnd);
      typist?.stop();
      resolve();
    };
    stream.on('end', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}

/** `enter APP web.1`: a `docker exec` in the instance's container, with a TTY that follows resizes when asked. */
export async function execInContainer(
  docker: Docker,
  container: Docker.Container,
  req: ExecRequest,
  dyno: string,
  /** The instance's environment when the engine's record of the container does not hold it (a standby's). */
  env: string[] = [],
): Promise<number> {
  const exec = await container.exec({
    Cmd: ['bash', '-c', EXEC_LAUNCHER, `slipway-${req.app}-${dyno}`, ...req.argv],
    WorkingDir: '/app',
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: !!req.tty,
    Env: [...env, `DYNO=${dyno}`],
  });
  const stream = (await exec.start({ hijack: true, stdin: true, Tty: !!req.tty })) as Duplex;
  req.onStart?.();
  if (req.tty) {
    await exec.resize({ h: req.tty.rows, w: req.tty.cols }).catch(() => undefined);
    req.onResize?.((cols, rows) => void exec.resize({ h: rows, w: cols }).catch(() => undefined));
  }
  const onAbort = () => stream.destroy();
  req.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await wire(docker, stream, req);
  } finally {
    req.signal?.removeEventListener('abort', onAbort);
  }
  const info = await exec.inspect();
  return info.ExitCode ?? 1;
}

export interface OneOffGuest {
  /** The container's name (and its scratch dir's). */
  name: string;
  dyno: string;
  confined: Confined;
  /** Where scratch dirs live; the one of this container goes with it. */
  scratchRoot: string;
}

/** `run APP -- cmd`, hooks, the release phase: a one-off container from the release, as Heroku's one-off dynos; removed after. */
export async function runOneOff(docker: Docker, req: ExecRequest, guest: OneOffGuest, opts: GuestOptions): Promise<number> {
  const { name, dyno, confined, scratchRoot } = guest;
  const container = await docker
    .createContainer(oneOffCreateOptions({ ...req, tty: !!req.tty }, name, dyno, confined, opts))
    .catch(async (err: unknown) => {
      await removeGuest(docker, name, scratchRoot, { scratch: confined.scratch }).catch(() => undefined);
      throw err;
    });
  if (confined.scratch) await ownScratch(confined.scratch, container.id);
  const onAbort = () => void container.kill().catch(() => undefined);
  req.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const stream = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as unknown as Duplex;
    const wired = wire(docker, stream, req);
    // 'next-exit': the default ('not-running') answers at once for a container not yet started.
    const exited = container.wait({ condition: 'next-exit' });
    await container.start();
    req.onStart?.();
    if (req.tty) {
      await container.resize({ h: req.tty.rows, w: req.tty.cols }).catch(() => undefined);
      req.onResize?.((cols, rows) => void container.resize({ h: rows, w: cols }).catch(() => undefined));
    }
    const result = (await exited) as { StatusCode?: number };
    await wired;
    return result.StatusCode ?? 1;
  } finally {
    req.signal?.removeEventListener('abort', onAbort);
    await removeGuest(docker, container.id, scratchRoot, { scratch: confined.scratch }).catch(() => undefined);
  }
}
