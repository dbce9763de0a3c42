import type { FastifyReply } from 'fastify';

/** One Server-Sent Events response: lines and a final event, written at the client's pace. */
export class EventStream {
  private readonly res: FastifyReply['raw'];
  readonly closed = new AbortController();

  constructor(reply: FastifyReply) {
    reply.hijack();
    this.res = reply.raw;
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      'x-content-type-options': 'nosniff',
    });
    // Tells EventSource to wait 3 s before reconnecting; lines come as `line` events.
    this.res.write('retry: 3000\n\n');
    this.res.once('close', () => this.closed.abort());
  }

  /** Sends each line of `text` as one `line` event; resolves once the socket took it. */
  lines(text: string): Promise<void> | void {
    const lines = text.replace(/\r?\n$/, '').split(/\r?\n/);
    return this.write(lines.map((l) => `event: line\ndata: ${l.replace(/\r/g, '')}\n\n`).join(''));
  }

  end(event: string, data = ''): void {
    if (this.res.writableEnded) return;
    this.res.end(`event: ${event}\ndata: ${data.replace(/[\r\n]/g, ' ')}\n\n`);
  }

  private write(chunk: string): Promise<void> | void {
    if (this.res.writableEnded || this.res.destroyed) return;
    if (this.res.write(chunk)) return;
    return new Promise((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.once('drain', done);
      this.res.once('close', done);
    });
  }
}
