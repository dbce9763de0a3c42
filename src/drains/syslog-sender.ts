import net from 'node:net';
import tls from 'node:tls';
import { resolveChecked, type EgressSettings } from '../egress/index.js';
import { describe } from '../errors.js';
import type { Batch, DrainSender, SendResult } from './sender.js';
import { octetFrame, rfc5424 } from './syslog.js';
import { drainTarget } from './url.js';

export interface SyslogSenderOptions {
  app: string;
  /** `syslog://` or `syslog+tls://` URL. */
  url: string;
  /** Masked URL, for messages. */
  shown: string;
  tls: boolean;
  egress: EgressSettings;
  /** The CAs the receiver's certificate may chain to (system, Node's and the extra bundle), made once. */
  secureContext: tls.SecureContext;
}

/**
 * RFC 5424 messages, octet-counted (RFC 6587), over one long-lived TCP or
 * TLS connection. A batch counts as delivered once the kernel took it: syslog
 * over TCP has no acknowledgement. A receiver that stops reading fills the
 * socket's buffers; the write then waits at most the egress idle timeout
 * before the connection is dropped and the batch tried again on a new one.
 */
export class SyslogSender implements DrainSender {
  private socket?: net.Socket;
  private closed = false;

  constructor(private readonly opts: SyslogSenderOptions) {}

  async send(batch: Batch, signal: AbortSignal): Promise<SendResult> {
    try {
      const socket = this.socket ?? (this.socket = await this.connect(signal));
      const data = batch.records.map((r) => octetFrame(rfc5424(r, this.opts.app))).join('');
      await this.write(socket, data, signal);
      return { ok: true };
    } catch (err) {
      this.drop();
      return { ok: false, retry: true, error: describe(err) };
    }
  }

  close(): void {
    this.closed = true;
    this.drop();
  }

  private drop(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private async connect(signal: AbortSignal): Promise<net.Socket> {
    const url = new URL(this.opts.url);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port);
    const settings = this.opts.egress;
    // Resolved and checked here, then connected to that very address: no second lookup to rebind.
    const [address] = await resolveChecked(settings, host, drainTarget(this.opts.shown));
    const socket = this.opts.tls
      ? tls.connect({
          host: address!.address,
          port,
          secureContext: this.opts.secureContext,
          ...(net.isIP(host) ? {} : { servername: host }),
          checkServerIdentity: (_, cert) => tls.checkServerIdentity(host, cert),
        })
      : net.connect({ host: address!.address, port });
    // Receivers say nothing on syslog; whatever they send (garbage included) is read and dropped.
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.socket === socket) this.socket = undefined;
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => fail(new Error(`did not connect within ${settings.connectTimeoutMs / 1000}s`)),
        settings.connectTimeoutMs,
      );
      const cleanup = () => {
        clearTimeout(timer);
        socket.off('error', fail);
        socket.off('close', closed);
        signal.removeEventListener('abort', aborted);
      };
      const fail = (err: Error) => {
        cleanup();
        socket.destroy();
        reject(err);
      };
      const closed = () => fail(new Error('the connection closed before it was up'));
      const aborted = () => fail(new Error('the drain was stopped'));
      socket.once(this.opts.tls ? 'secureConnect' : 'connect', () => {
        cleanup();
        resolve();
      });
      socket.once('error', fail);
      socket.once('close', closed);
      signal.addEventListener('abort', aborted, { once: true });
    });
    if (this.closed) {
      socket.destroy();
      throw new Error('the drain was stopped');
    }
    socket.setNoDelay(true);
    return socket;
  }

  /** Resolves once the kernel took `data`; fails when the connection breaks or stays full past the idle timeout. */
  private write(socket: net.Socket, data: string, signal: AbortSignal): Promise<void> {
    const idleMs = this.opts.egress.idleTimeoutMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => done(new Error(`the receiver took nothing for ${idleMs / 1000}s (egress idle timeout); reconnecting`)),
        idleMs,
      );
      const onError = (err: Error) => done(err);
      const onClose = () => done(new Error('the receiver closed the connection'));
      const onAbort = () => done(new Error('the drain was stopped'));
      let settled = false;
      function done(err?: Error) {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.off('error', onError);
        socket.off('close', onClose);
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      }
      socket.once('error', onError);
      socket.once('close', onClose);
      signal.addEventListener('abort', onAbort, { once: true });
      if (socket.destroyed) return onClose();
      socket.write(data, 'utf8', (err) => done(err ?? undefined));
    });
  }
}
