import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';

/** Asks whether the process that accepted a connection on `port` (from our `clientPort`) is the backend's own. */
export type Owns = (port: number, clientPort: number) => boolean | Promise<boolean>;

/**
 * Connects to a backend and hands the socket over only once the process that
 * accepted it is known to be the backend's own (see RouterEngine.owns); else
 * the socket is destroyed and `done` gets the error (the request's 502).
 * Pooled connections are checked when they are made; an app's port cannot
 * change hands under an established connection.
 */
export function connectVerified(
  options: net.NetConnectOpts & { port: number },
  owns: Owns | undefined,
  done: (err: Error | null, socket: net.Socket) => void,
): net.Socket {
  const socket = net.connect(options);
  const port = options.port;
  let settled = false;
  const settle = (err: Error | null) => {
    if (settled) return;
    settled = true;
    done(err, socket);
  };
  // Never without a listener: a backend that dies while we check would otherwise kill the daemon.
  socket.on('error', (err) => settle(err));
  let closed = false;
  socket.once('close', () => (closed = true));
  socket.once('connect', () => {
    // The kernel may list the accepted side a moment after our side connected: a "no" is asked again.
    const check = async (tries: number) => {
      if (settled) return;
      const ok = !owns || socket.localPort === undefined || (await owns(port, socket.localPort));
      // Closed while we asked (the backend went): never handed over as if checked.
      if (socket.destroyed || closed) return settle(new Error(`the connection to port ${port} closed during its check`));
      if (ok) return settle(null);
      if (tries > 0) return void setTimeout(() => ask(tries - 1), 5);
      socket.destroy();
      settle(new Error(`the listener on port ${port} is not the instance's own`));
    };
    // A failed question is a "no": the connection is dropped, never handed over unchecked.
    const ask = (tries: number) =>
      void check(tries).catch((err: Error) => {
        socket.destroy();
        settle(err);
      });
    ask(3);
  });
  return socket;
}

/** An http.Agent whose every new backend connection is verified (connectVerified): for websockets. */
export class VerifyingAgent extends http.Agent {
  constructor(
    opts: http.AgentOptions,
    private readonly router: { owns?: Owns },
  ) {
    super(opts);
  }

  override createConnection(options: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): undefined {
    connectVerified({ ...(options as net.NetConnectOpts), port: Number(options.port) }, this.router.owns, callback ?? (() => undefined));
    return undefined;
  }
}
