import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { requires } from '../support/requires.js';
import { addBuildpack, appRepo, commitAll, httpGet, push, setMessage, tmpdir, useServer } from './harness.js';

const SCRAPE_TOKEN = 'scrape-token-for-the-metrics-test';
const tokenFile = path.join(tmpdir('metrics'), 'token');
fs.writeFileSync(tokenFile, `${SCRAPE_TOKEN}\n`, { mode: 0o600 });

/** One series' value from the Prometheus text, labels matched exactly (in any order); 0 when absent. */
function value(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.keys(labels).length === Object.keys(got).length && Object.entries(labels).every(([k, v]) => got[k] === v))
      return Number(m[3]);
  }
  return 0;
}

describe('e2e: GET /metrics', function () {
  this.timeout(300_000);
  const env = useServer({ env: { SLIPWAY_METRICS_TOKEN_FILE: tokenFile } });
  const scrape = (token?: string) =>
    httpGet({
      port: env.server.ports.http,
      host: '127.0.0.1',
      path: '/metrics',
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
  const cli = (args: string[]) => {
    const r = env.server.cli(args);
    if (r.code !== 0) throw new Error(`slipway ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout.trim();
  };

  it('counts every request the router answered for an app, and a failed deploy as failed', async () => {
    cli(['apps:create', 'counted']);
    const repo = appRepo('procfile-hello');
    setMessage(repo, 'counted');
    const ok = await push(repo, env.server.httpRemote('counted', env.server.adminToken));
    expect(ok.code, ok.stderr).to.equal(0);

    const before = await scrape(SCRAPE_TOKEN);
    expect(before.status).to.equal(200);
    expect(value(before.body, 'slipway_router_requests_total', { app: 'counted', method: 'GET', status_class: '2xx' })).to.equal(0);

    const SENT = 60;
    for (let i = 0; i < SENT; i++) expect((await env.server.get('counted', `/n/${i}`)).status).to.equal(200);
    const after = (await scrape(SCRAPE_TOKEN)).body;
    // Sequential requests, each answered before the next: nothing is in flight when the scrape comes.
    expect(value(after, 'slipway_router_requests_total', { app: 'counted', method: 'GET', status_class: '2xx' })).to.equal(SENT);
    expect(value(after, 'slipway_router_request_duration_seconds_count', { app: 'counted' })).to.equal(SENT);
    expect(value(after, 'slipway_deploys_total', { app: 'counted', result: 'succeeded' })).to.equal(1);
    expect(value(after, 'slipway_instances', { app: 'counted', process_type: 'web' })).to.equal(1);
    expect(value(after, 'slipway_instance_memory_bytes', { app: 'counted', process_type: 'web' })).to.be.greaterThan(1024 * 1024);
    expect(value(after, 'slipway_build_duration_seconds_count', { app: 'counted' })).to.equal(1);

    // A build that fails: counted as a failed deploy, and the live release keeps serving.
    addBuildpack(repo, 'failpack', 'echo "broken on purpose" >&2; exit 1');
    commitAll(repo, 'broken build');
    const failed = await push(repo, env.server.httpRemote('counted', env.server.adminToken));
    expect(failed.stderr).to.match(/failed at build/);
    const last = (await scrape(env.server.adminToken)).body;
    expect(value(last, 'slipway_deploys_total', { app: 'counted', result: 'failed' })).to.equal(1);
    expect(value(last, 'slipway_deploys_total', { app: 'counted', result: 'succeeded' })).to.equal(1);
    expect(value(last, 'slipway_deploy_duration_seconds_count', { app: 'counted', result: 'failed' })).to.equal(1);
    // Labels name apps and process types, never instances, hosts or paths.
    expect(last).not.to.match(/web\.1|\/n\/|localhost/);
  });

  it('is for the scrape token and admins only: a member gets 403, no token or a wrong one 401', async () => {
    cli(['users:add', 'member']);
    const member = cli(['tokens:create', '--user', 'member', '--name', 'm']);
    expect((await scrape(member)).status).to.equal(403);
    expect((await scrape()).status).to.equal(401);
    expect((await scrape('not-the-scrape-token')).status).to.equal(401);
    expect((await scrape(SCRAPE_TOKEN)).status).to.equal(200);
    expect((await scrape(env.server.adminToken)).status).to.equal(200);
  });
});

// nginx reports each request through its buffered access file, up to about a second after the request is over: the scrape polls.
describe('e2e: GET /metrics with the nginx router', function () {
  this.timeout(300_000);
  requires('nginx');
  const env = useServer({ env: { SLIPWAY_METRICS_TOKEN_FILE: tokenFile, SLIPWAY_ROUTER: 'nginx' } });
  const counted = async (labels: Record<string, string>) =>
    value(
      (
        await httpGet({
          port: env.server.ports.http,
          host: '127.0.0.1',
          path: '/metrics',
          headers: { authorization: `Bearer ${SCRAPE_TOKEN}` },
        })
      ).body,
      'slipway_router_requests_total',
      labels,
    );

  it('counts every request nginx answered for an app', async () => {
    const create = env.server.cli(['apps:create', 'counted']);
    expect(create.code, create.stderr).to.equal(0);
    const repo = appRepo('procfile-hello');
    setMessage(repo, 'counted');
    const ok = await push(repo, env.server.httpRemote('counted', env.server.adminToken));
    expect(ok.code, ok.stderr).to.equal(0);

    const SENT = 40;
    for (let i = 0; i < SENT; i++) expect((await env.server.get('counted', `/n/${i}`)).status).to.equal(200);
    expect((await httpGet({ port: env.server.ports.router, host: 'nobody.localhost', path: '/' })).status).to.equal(404);
    const labels = { app: 'counted', method: 'GET', status_class: '2xx' };
    let got = await counted(labels);
    for (let i = 0; got < SENT && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 50));
      got = await counted(labels);
    }
    expect(got).to.equal(SENT);
  });
});
