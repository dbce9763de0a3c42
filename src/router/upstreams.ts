import { Pool } from 'undici';
import { connectVerified, type Owns } from './verifying-agent.js';

export interface UpstreamTarget {
  host: string;
  port: number;
}

/**
 * Kept-alive connections to the backends, one undici pool per backend
 * address: a new TCP handshake per request costs more than the proxying, and
 * undici's client does a request in about three quarters of the time of
 * node:http's (bench/router.ts). Every new connection is verified as the
 * backend's own before a request is sent on it.
 */
export class Upstreams {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly opts: { owns: () => Owns | undefined; timeoutMs?: number }) {}

  pool(target: UpstreamTarget): Pool {
    const key = keyOf(target);
    let pool = this.pools.get(key);
    if (!pool) {
      const owns = this.opts.owns;
      pool = new Pool(`http://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`, {
        // As node's agent with keepAlive: as many connections as requests in flight, idle ones kept.
        connections: null,
        pipelining: 1,
        // The router's proxy timeout is how long a backend may stay silent; none by default.
        headersTimeout: this.opts.timeoutMs ?? 0,
        bodyTimeout: this.opts.timeoutMs ?? 0,
        connect: (o, done) =>
          void connectVerified({ host: target.host, port: target.port }, owns(), (err, socket) =>
            err ? done(err, null) : done(null, socket),
          ),
      });
      this.pools.set(key, pool);
    }
    return pool;
  }

  /**
   * A backend out of its route, drained: its pool ends once what it still
   * carries is over, idle connections at once (an app that stops gracefully
   * waits for its open connections; ours would hold its stop).
   */
  retire(target: UpstreamTarget): void {
    const key = keyOf(target);
    const pool = this.pools.get(key);
    if (!pool) return;
    this.pools.delete(key);
    pool.close().catch(() => undefined);
  }

  /** The router closes: every connection ends now. */
  async destroy(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(() => undefined)));
  }
}

const keyOf = (t: UpstreamTarget) => `${t.host}:${t.port}`;
