import { randomInt } from 'node:crypto';
import net from 'node:net';
import { SlipwayError } from '../errors.js';

/**
 * Instances' ports by driver, below Linux's ephemeral range (32768–60999 by
 * default): a port in it can be taken by any outgoing connection (the
 * router's to an upstream, a git fetch) between the check that it is free
 * and the app's listen, and the app then fails with EADDRINUSE.
 */
export const DEFAULT_PORTS = { process: [20000, 24999], docker: [25000, 29999] } satisfies Record<string, [number, number]>;

export interface PortAllocatorOptions {
  /** Inclusive range ports are handed out from. */
  range: [number, number];
  /** Interface probed for a free port; instances bind there too. */
  host?: string;
}

/**
 * Hands out loopback ports to web instances. A port is reserved from the
 * moment it is picked until `release`, so two concurrent starts never get
 * the same one and a crashed instance keeps its port across restarts.
 */
export class PortAllocator {
  private readonly reserved = new Set<number>();
  private readonly low: number;
  private readonly high: number;
  private readonly host: string;

  constructor(opts: PortAllocatorOptions) {
    const [low, high] = opts.range;
    if (!Number.isInteger(low) || !Number.isInteger(high) || low < 1 || high > 65535 || low > high) {
      throw new SlipwayError('invalid', `invalid port range ${low}-${high}`, {
        status: 422,
        hint: 'use two integers between 1 and 65535, low first',
      });
    }
    this.low = low;
    this.high = high;
    this.host = opts.host ?? '127.0.0.1';
  }

  /**
   * Picks a port that is neither reserved nor bound by anyone on the host, at
   * random: a port that follows from the last one would let an app that saw
   * its own guess the next instance's and bind it first.
   */
  async allocate(): Promise<number> {
    const size = this.high - this.low + 1;
    for (let tried = 0; tried < Math.min(size, 64); tried++) {
      const port = this.low + randomInt(size);
      if (await this.take(port)) return port;
    }
    // A crowded range: walk it all once from a random point.
    const start = randomInt(size);
    for (let i = 0; i < size; i++) {
      const port = this.low + ((start + i) % size);
      if (await this.take(port)) return port;
    }
    throw new SlipwayError('no_free_port', `no free port in ${this.low}-${this.high} on ${this.host}`, {
      status: 503,
      hint: 'stop unused processes or widen the process driver port range',
    });
  }

  private async take(port: number): Promise<boolean> {
    if (this.reserved.has(port)) return false;
    // Reserve before the async probe: a concurrent allocate must skip it.
    this.reserved.add(port);
    if (await isPortFree(port, this.host)) return true;
    this.reserved.delete(port);
    return false;
  }

  release(port: number): void {
    this.reserved.delete(port);
  }

  isReserved(port: number): boolean {
    return this.reserved.has(port);
  }
}

/**
 * True when we can bind host:port right now (then let go of it at once). An
 * app told $PORT usually listens on every address (node's default is `::`,
 * v4 and v6), so the port must be free on all of them: a listener on [::1]
 * alone would make its listen fail.
 */
export async function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  const onHost = await bindOnce(port, host);
  if (onHost !== 'free' || host === '::') return onHost === 'free';
  // A host without IPv6 cannot bind `::`; its apps cannot either, so the probe on `host` is the answer.
  return (await bindOnce(port, '::')) !== 'taken';
}

function bindOnce(port: number, host: string): Promise<'free' | 'taken' | 'unsupported'> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', (err: NodeJS.ErrnoException) =>
      resolve(err.code === 'EAFNOSUPPORT' || err.code === 'EADDRNOTAVAIL' ? 'unsupported' : 'taken'),
    );
    server.listen({ port, host, exclusive: true }, () => {
      server.close(() => resolve('free'));
    });
  });
}

/** True when something accepts TCP connections on host:port. */
export function isPortOpen(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
