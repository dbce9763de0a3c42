import type { EventEmitter } from 'node:events';
import { Client } from 'undici';
import { connectVerified, type Owns } from './verifying-agent.js';

export interface UpstreamTarget {
  host: string;
  port: number;
}

/**
 * Idle connections kept per backend after a burst, as an agent's free
 * sockets: enough for the next one, while a burst of thousands of slow
 * requests does not leave thousands of clients behind.
 */
const MAX_IDLE = 32;

/**
 * Kept-alive connections to one backend: an undici Client per connection,
 * handed to one request at a time. Not undici's Pool: a request undici
 * refuses as it builds it (`OPTIONS *`, a method or header it will not send)
 * left the Pool's client marked busy for good and the Pool making a new one
 * for every such request; and the Pool never lets go of the clients a burst
 * made.
 */
export class BackendPool {
  private readonly idle: Client[] = [];
  private readonly all = new Set<Client>();
  private closed = false;

  constructor(private readonly make: () => Client) {}

  /** A client for one request; give it back with `release` once its answer is over or failed. */
  acquire(): Client {
    for (let c = this.idle.pop(); c; c = this.idle.pop()) if (!c.closed && !c.destroyed) return c;
    const c = this.make();
    this.all.add(c);
    return c;
  }

  release(c: Client): void {
    if (c.closed || c.destroyed) return void this.all.delete(c);
    if (this.closed || this.idle.length >= MAX_IDLE) {
      this.all.delete(c);
      return void c.close().catch(() => undefined);
    }
    this.idle.push(c);
  }

  /** A client with a request that cannot be aborted yet (not on a connection): it goes, and its request fails. */
  discard(c: Client, err: Error): void {
    this.all.delete(c);
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    c.destroy(err).catch(() => undefined);
  }

  /** Out of its route: idle connections end now, the others once their request is over. */
  close(): void {
    this.closed = true;
    for (const c of this.idle.splice(0)) {
      this.all.delete(c);
      c.close().catch(() => undefined);
    }
  }

  async destroy(): Promise<void> {
    this.closed = true;
    this.idle.length = 0;
    const all = [...this.all];
    this.all.clear();
    await Promise.all(all.map((c) => c.destroy().catch(() => undefined)));
  }

  /** Clients it holds (tests). */
  get size(): number {
    return this.all.size;
  }
}

/**
 * Kept-alive connections to the backends, a BackendPool per backend
 * address: a new TCP handshake per request costs more than the proxying, and
 * undici's client does a request in about three quarters of the time of
 * node:http's (bench/router.ts). Every new connection is verified as the
 * backend's own before a request is sent on it.
 */
export class Upstreams {
  private readonly pools = new Map<string, BackendPool>();
  private destroyed = false;

  constructor(private readonly opts: { owns: () => Owns | undefined; timeoutMs?: number; log: (msg: string) => void }) {}

  pool(target: UpstreamTarget): BackendPool {
    const key = keyOf(target);
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new BackendPool(() => this.client(target));
      // After the router closed, a pool is still made (a request in its last moments) but never kept.
      if (!this.destroyed) this.pools.set(key, pool);
    }
    return pool;
  }

  private client(target: UpstreamTarget): Client {
    const client = new Client(`http://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`, {
      pipelining: 1,
      // The router's proxy timeout is how long a backend may stay silent; none by default.
      headersTimeout: this.opts.timeoutMs ?? 0,
      bodyTimeout: this.opts.timeoutMs ?? 0,
      connect: (_o, done) =>
        void connectVerified({ host: target.host, port: target.port }, this.opts.owns(), (err, socket) =>
          err ? done(err, null) : done(null, socket),
        ),
    });
    // undici emits 'error' where a request's own handler threw: logged, never the daemon's end.
    (client as unknown as EventEmitter).on('error', (err: Error) =>
      this.opts.log(`router: connection to ${keyOf(target)}: ${err.message}`),
    );
    return client;
  }

  /** A backend out of its route: its pool ends once what it still carries is over, idle connections at once. */
  retire(target: UpstreamTarget): void {
    const key = keyOf(target);
    const pool = this.pools.get(key);
    if (!pool) return;
    this.pools.delete(key);
    pool.close();
  }

  /** The router closes: every connection ends now. */
  async destroy(): Promise<void> {
    this.destroyed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.destroy()));
  }
}

const keyOf = (t: UpstreamTarget) => `${t.host}:${t.port}`;
