import net from 'node:net';

/**
 * A TCP relay in front of the CA's directory that counts connections: with
 * keep-alive off, each connection is one request of an attempt, and with the
 * CA stopped each attempt is exactly one connection (its directory fetch
 * fails), so the count is the number of attempts that reached for the CA.
 */
export interface CountingProxy {
  port: number;
  /** Times connections were accepted, in ms since the epoch. */
  connections: number[];
  close(): Promise<void>;
}

export async function countingProxy(target: { host: string; port: number }): Promise<CountingProxy> {
  const connections: number[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    connections.push(Date.now());
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => (client.destroy(), upstream.destroy()));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
