import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NginxMaster, findNginx } from '../../src/router/nginx-process.js';

/** What the router bench sends traffic to: a tiny app, and a plain nginx in front of it as the yardstick. */

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Resolves once `GET /` with `host` answers 200 with `body` (over TLS with `host` as the server name when `tls`). */
export async function waitForBody(port: number, host: string, body: string, timeoutMs = 10_000, tls = false): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await new Promise<string | undefined>((resolve) => {
      const get = tls
        ? (o: https.RequestOptions, cb: (res: http.IncomingMessage) => void) =>
            https.get({ ...o, servername: host, rejectUnauthorized: false }, cb)
        : http.get;
      const req = get({ host: '127.0.0.1', port, headers: { host }, agent: false }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c));
        res.on('end', () => resolve(res.statusCode === 200 ? text : undefined));
      });
      req.on('error', () => resolve(undefined));
    });
    if (got === body) return;
    if (Date.now() > deadline) throw new Error(`127.0.0.1:${port} (Host ${host}) did not answer "${body}" within ${timeoutMs}ms`);
    await sleep(50);
  }
}

/**
 * The app: Node's http server answering `ok`, in its own process, so that a
 * router in the bench's process never shares an event loop with it.
 */
export async function startTinyApp(): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const script = `require('node:http').createServer((req, res) => res.end('ok')).listen(${port}, '127.0.0.1')`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForBody(port, 'app', 'ok');
  return { port, stop: () => stopChild(child) };
}

/**
 * A hand-written nginx reverse proxy, the usual minimum for production
 * (`proxy_pass` to a keepalive upstream), with its own temp prefix. It is
 * the yardstick: the nginx engine should cost about the same.
 */
export async function startPlainNginx(
  appPort: number,
  workerProcesses: number,
  tls?: { certKeyFile: string },
): Promise<{ port: number; tlsPort: number; stop(): Promise<void> }> {
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-plain-nginx-'));
  const port = await freePort();
  const tlsPort = await freePort();
  // The TLS yardstick: the same proxy, terminating the same certificate as the engines, with nginx's usual session cache.
  const tlsServer = tls
    ? `    server {
        listen 127.0.0.1:${tlsPort} ssl http2;
        ssl_certificate ${tls.certKeyFile};
        ssl_certificate_key ${tls.certKeyFile};
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
`
    : '';
  const conf = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(
    conf,
    `worker_processes ${workerProcesses};
pid nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path tmp/client_body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    upstream app {
        server 127.0.0.1:${appPort};
        keepalive 32;
    }
    server {
        listen 127.0.0.1:${port};
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
${tlsServer}}
`,
  );
  fs.mkdirSync(path.join(prefix, 'tmp'));
  const master = NginxMaster.start({ bin: findNginx(), conf, prefix, log: (l) => process.stderr.write(`bench: plain nginx: ${l}\n`) });
  const stop = async () => {
    await master.stop(2000);
    fs.rmSync(prefix, { recursive: true, force: true });
  };
  try {
    await waitForBody(port, 'bench.localhost', 'ok');
    if (tls) await waitForBody(tlsPort, 'localhost', 'ok', 10_000, true);
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, tlsPort, stop };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(2000)]);
  child.kill('SIGKILL');
}
