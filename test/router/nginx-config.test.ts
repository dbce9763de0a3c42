import { expect } from 'chai';
import { checkRoute, connectionLimits, listenAddress, renderApp, renderMain } from '../../src/router/nginx-config.js';
import { parseEndpoint } from '../../src/router/nginx-procs.js';
import { SlipwayError } from '../../src/errors.js';

describe('nginx config rendering', () => {
  const route = {
    app: 'myapp',
    hosts: ['MyApp.localhost', 'www.example.com.', 'myapp.localhost:8000'],
    backends: [
      { id: 'myapp.v3.web.1', host: '127.0.0.1', port: 40001 },
      { id: 'myapp.v3.web.2', host: '::1', port: 40002 },
    ],
  };

  it('renders an upstream with keepalive and a server block with the proxy headers', () => {
    const text = renderApp({ route, listen: ['127.0.0.1:8000', '[::1]:8000'], proxyTimeoutS: 3600 });
    expect(text).to.include('server {\n    listen 127.0.0.1:8000;\n    listen [::1]:8000;\n    server_name myapp.localhost');
    expect(text).to.include('upstream slipway_app_myapp {');
    expect(text).to.include('server 127.0.0.1:40001;  # myapp.v3.web.1');
    expect(text).to.include('server [::1]:40002;  # myapp.v3.web.2');
    expect(text).to.include('keepalive 32;');
    expect(text).to.include('server_name myapp.localhost www.example.com;');
    for (const line of [
      'proxy_pass http://slipway_app_myapp;',
      'proxy_http_version 1.1;',
      'proxy_set_header Upgrade $http_upgrade;',
      'proxy_set_header Connection $slipway_connection;',
      'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
      'proxy_set_header X-Forwarded-Proto $scheme;',
      'proxy_set_header X-Forwarded-Port $server_port;',
      'proxy_set_header X-Request-Id $slipway_request_id;',
    ]) {
      expect(text).to.include(line);
    }
  });

  it('renders a 502 server for an app without backends, and nothing to serve without hosts', () => {
    const text = renderApp({ route: { ...route, backends: [] }, listen: ['127.0.0.1:8000'], proxyTimeoutS: 60 });
    expect(text).to.not.include('upstream');
    expect(text).to.include('return 502 "myapp has no running web process\\n";');
    expect(renderApp({ route: { ...route, hosts: [] }, listen: ['127.0.0.1:8000'], proxyTimeoutS: 60 })).to.not.include('server {');
  });

  it('renders the main config with a 404 default server, the probe and the long timeouts', () => {
    const text = renderMain({
      listen: ['0.0.0.0:8000', '[::]:8000'],
      workerProcesses: 2,
      workerConnections: 4096,
      generation: 7,
      token: 'abc',
      proxyTimeoutS: 3600,
    });
    // Every address gets its own listen, in the default server and in the probe server alike.
    expect(text).to.include('listen 0.0.0.0:8000 default_server;\n        listen [::]:8000 default_server;');
    expect(text).to.include('listen 0.0.0.0:8000;\n        listen [::]:8000;\n        server_name generation.slipway.invalid;');
    expect(text).to.include('return 404 "No app is served at $slipway_shown_host\\n";');
    expect(text).to.include('return 200 "abc 7\\n";');
    expect(text).to.include('proxy_read_timeout 3600s;');
    expect(text).to.include('include apps/*.conf;');
    expect(text).to.not.include('daemon');
  });

  it('sizes worker connections to the open-file limit', () => {
    expect(connectionLimits({ soft: 20000, hard: 20000 })).to.deep.equal({ workerConnections: 4096 });
    expect(connectionLimits({ soft: 1024, hard: 20000 })).to.deep.equal({ workerConnections: 4096, rlimitNofile: 8192 });
    expect(connectionLimits({ soft: 1024, hard: 1024 })).to.deep.equal({ workerConnections: 992 });
    expect(
      renderMain({
        listen: ['127.0.0.1:1'],
        workerProcesses: 1,
        workerConnections: 4096,
        rlimitNofile: 8192,
        generation: 1,
        token: 't',
        proxyTimeoutS: 1,
      }),
    ).to.include('worker_rlimit_nofile 8192;');
  });

  it('normalizes what it can and refuses the rest', () => {
    expect(checkRoute(route).hosts).to.deep.equal(['myapp.localhost', 'www.example.com']);
    const refuse = (r: typeof route) => expect(() => checkRoute(r)).to.throw(SlipwayError);
    refuse({ ...route, hosts: ['bad_host.localhost'] });
    refuse({ ...route, hosts: ['-lead.localhost'] });
    refuse({ ...route, hosts: [`${'a'.repeat(64)}.localhost`] });
    refuse({ ...route, app: '9lives' });
    refuse({ ...route, backends: [{ id: 'x', host: '127.0.0.1', port: 70000 }] });
    refuse({ ...route, backends: [{ id: 'x', host: '127.0.0.1', port: 1.5 }] });
    expect(listenAddress('::', 80)).to.equal('[::]:80');
    expect(() => listenAddress('0.0.0.0; x', 80)).to.throw(SlipwayError);
  });

  it('reads /proc/net/tcp addresses', () => {
    expect(parseEndpoint('0100007F:1F90')).to.deep.equal({ host: '127.0.0.1', port: 8080 });
    expect(parseEndpoint('0000000000000000FFFF00000100007F:0050')).to.deep.equal({ host: '127.0.0.1', port: 80 });
    expect(parseEndpoint('00000000000000000000000001000000:0050')!.host).to.equal('00000000000000000000000000000001');
  });
});
