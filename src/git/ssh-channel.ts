import { Writable } from 'node:stream';
import type { ServerChannel } from 'ssh2';

/**
 * The output side of one SSH exec/shell channel, wrapped so that the rest of
 * Slipway cannot get the ordering wrong and a vanished client cannot wedge us.
 *
 * ssh2's channel silently drops writes (and never calls their callbacks) once
 * the channel is closed, and it ends stderr when the peer closes. Anything
 * piped into a dead channel would stall forever and, through the pipe, block
 * the child process writing to it. So writes go through `stdout`/`stderr`
 * here, which turn into sinks the moment the channel is gone, and `finish`
 * flushes both streams before sending the exit status and closing.
 */
export class ChannelIO {
  readonly stdout: Writable;
  readonly stderr: Writable;
  /** Resolves when the client closed the channel or the connection dropped. */
  readonly gone: Promise<void>;
  private isGone = false;
  private finished = false;
  /** The exit status went out (by finish or cut): nothing more is sent. */
  private exited = false;
  private readonly waiting = new Set<() => void>();

  constructor(
    readonly channel: ServerChannel,
    connectionClosed: Promise<void>,
    log: (msg: string) => void,
  ) {
    let markGone!: () => void;
    this.gone = new Promise((resolve) => (markGone = resolve));
    const onGone = () => {
      if (this.isGone) return;
      this.isGone = true;
      for (const release of this.waiting) release();
      this.waiting.clear();
      markGone();
    };
    // Late writes after the peer closed raise 'write after end'; that is the
    // client's business, not a reason to take the server down.
    channel.on('error', (err: Error) => log(`ssh: channel error: ${err.message}`));
    channel.stderr.on('error', () => {});
    channel.on('close', onGone);
    channel.stderr.on('close', onGone);
    void connectionClosed.then(onGone);

    this.stdout = this.forwarder(channel);
    this.stderr = this.forwarder(channel.stderr);
  }

  get closed(): boolean {
    return this.isGone;
  }

  /** Writes one line to the client's stderr (the channel stays open). */
  errorLine(line: string): void {
    this.stderr.write(line.endsWith('\n') ? line : `${line}\n`);
  }

  /** Flushes stdout and stderr, then sends the exit status and closes the channel. */
  async finish(code: number): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    await this.barrier(this.stderr);
    await this.barrier(this.stdout);
    await this.barrier(this.channel.stderr);
    await this.barrier(this.channel);
    if (this.isGone || this.exited) return;
    this.exited = true;
    this.channel.exit(code);
    this.channel.end();
  }

  /**
   * Ends the channel from our side at once, whatever is still queued or
   * being written: one last stderr line, exit status 1, close. For a session
   * whose access was revoked and whose command did not stop in time, or whose
   * client does not read.
   */
  cut(line: string): void {
    if (this.isGone || this.exited) return;
    this.finished = true;
    this.exited = true;
    this.channel.stderr.write(line);
    this.channel.exit(1);
    this.channel.close();
    // The client's close confirmation ends the forwarders; until then, writers must not wait on a channel we closed.
    for (const release of this.waiting) release();
    this.waiting.clear();
  }

  /**
   * A Writable that forwards to `target` with its backpressure, never ends it
   * (only `finish` does, after the exit status), and discards once the
   * channel is gone.
   */
  private forwarder(target: Writable): Writable {
    return new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        if (this.isGone || this.exited) return cb();
        let done = false;
        const release = () => {
          if (done) return;
          done = true;
          this.waiting.delete(release);
          cb();
        };
        this.waiting.add(release);
        target.write(chunk, () => release());
      },
      final: (cb) => cb(),
    });
  }

  /** Resolves once everything written to `stream` so far has been handled. */
  private barrier(stream: Writable): Promise<void> {
    if (this.isGone || this.exited || stream.writableFinished || stream.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const release = () => {
        this.waiting.delete(release);
        resolve();
      };
      this.waiting.add(release);
      if (stream.writableEnded) stream.once('finish', release);
      // An empty write's callback runs only after every earlier write's.
      else stream.write(Buffer.alloc(0), () => release());
    });
  }
}
