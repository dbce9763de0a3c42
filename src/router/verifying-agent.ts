import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * An agent whose every new backend connection is checked once it is up: the
 * process that accepted it must be the backend's own (see RouterEngine.owns),
 * else the connection is dropped and the request gets a 502. Pooled
 * connections were checked when they were made; an app's port cannot change
 * hands under an established connection.
 */
export class VerifyingAgent extends http.Agent {
  constructor(
    opts: http.AgentOptions,
    private readonly router: { owns?: (port: number, clientPort: number) => boolean | Promise<boolean> },
  ) {
    super(opts);
  }

  override createConnection(options: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): undefined {
    const socket = net.connect(options as net.NetConnectOpts);
    const port = Number(options.port);
    const done = callback ?? (() => undefined);
    let settled = false;
    const settle = (err: Error | null) => {
      if (settled) return;
      settled = true;
      done(err, socket);
    };
    // Never without a listener: a backend that dies while we check would otherwise kill the daemon.
    socket.on('error', (err) => settle(err));
    socket.once('connect', () => {
      const owns = this.router.owns;
      // The kernel may list the accepted side a moment after our side connected: a "no" is asked again.
      const check = async (tries: number) => {
        if (settled) return;
        if (!owns || socket.localPort === undefined || (await owns(port, socket.localPort))) return settle(null);
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
    return undefined;
  }
}
