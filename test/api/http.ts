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
export function api(
  server: TestServer,
  opts: { method?: string; path: string; token?: string; body?: unknown; headers?: Record<string, string>; refusedByClose?: boolean },
  retried = false,
): Promise<Answer> {
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
    let answered = false;
    let retrying = false;
    const req = http.request(
      { host: '127.0.0.1', port: server.ports.http, method: opts.method ?? 'GET', path: opts.path, headers },
      (res) => {
        answered = true;
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
      },
    );
    // A server that refuses early (413, 401) may close before the whole body went out: its answer still counts.
    req.on('close', () => {
      // A server may refuse an oversized body by closing before its answer could be read (EPIPE on our side).
      if (!answered && !retrying && opts.refusedByClose) return resolve({ status: 0, headers: {}, text: '', json: undefined });
      if (!answered && !retrying) reject(new Error(`${opts.method ?? 'GET'} ${opts.path}: the connection closed without an answer`));
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || (opts.refusedByClose && err.code === 'ECONNRESET' && !req.reusedSocket)) return;
      // A kept-alive socket the server closed while this process was busy (a spawnSync) fails at once: send again on a new one.
      if (req.reusedSocket && err.code === 'ECONNRESET' && !retried) {
        retrying = true;
        return void api(server, opts, true).then(resolve, reject);
      }
      reject(err);
    });
    req.end(payload);
  });
}
