import http from 'node:http';
import type { TestServer } from '../e2e/harness.js';

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: any;
}

/**
 * One HTTP request to a running `slipway server`. `body` objects are sent as
 * JSON; strings and buffers are sent as they are (for malformed input).
 */
export function api(server: TestServer, opts: { method?: string; path: string; token?: string; body?: unknown; headers?: Record<string, string> }, retried = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    let payload: string | Buffer | undefined;
    if (typeof opts.body === 'string' || Buffer.isBuffer(opts.body)) payload = opts.body;
    else if (opts.body !== undefined) {
      payload = JSON.stringify(opts.body);
      headers['content-type'] = 'application/json';
    }
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    Object.assign(headers, opts.headers);
    const req = http.request({ host: '127.0.0.1', port: server.ports.http, method: opts.method ?? 'GET', path: opts.path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: any;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      // A kept-alive socket the server closed while this process was busy (a spawnSync) fails at once: send again on a new one.
      if (req.reusedSocket && err.code === 'ECONNRESET' && !retried) return void api(server, opts, true).then(resolve, reject);
      reject(err);
    });
    req.end(payload);
  });
}
