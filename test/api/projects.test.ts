import { expect } from 'chai';
import { useServer } from '../e2e/harness.js';
import { query } from '../e2e/db.js';
import { api, type Answer } from './http.js';

/** The 000 seed's flow (projects and services, by id or name) through the HTTP API with a token. */
describe('api/projects', function () {
  this.timeout(120_000);
  const env = useServer();
  let token = '';
  const call = (method: string, path: string, body?: unknown, t = token) => api(env.server, { method, path, body, token: t });
  const ok = (r: Answer, status = 200) => {
    expect(r.status, r.text).to.equal(status);
    return r.json;
  };
  const refused = (r: Answer, status: number, error: string) => {
    expect(r.status, r.text).to.equal(status);
    expect(r.json.error, r.text).to.equal(error);
    expect(r.json.message).to.be.a('string');
    expect(r.json.hint).to.be.a('string');
  };

  before(() => {
    token = env.server.cli(['tokens:create', '--name', 'seed-flow']).stdout.trim();
    expect(token).to.match(/^\S+$/);
  });

  it('creates a project and two services, gets each by id and by name, renames, deletes; refuses duplicate names', async () => {
    const project = ok(await call('POST', '/api/v1/projects', { name: 'shop', description: 'the web shop' }), 201);
    expect(project).to.include({ name: 'shop', description: 'the web shop', owner: 'admin' });
    expect(project.services).to.deep.equal([]);
    refused(await call('POST', '/api/v1/projects', { name: 'shop' }), 409, 'project_exists');
    refused(await call('POST', '/api/v1/projects', { name: 'Shop!' }), 422, 'invalid');
    refused(await call('POST', '/api/v1/projects', { name: '42' }), 422, 'invalid');
    refused(await call('POST', '/api/v1/projects', { name: 'term', description: 'clear\u001b[2J' }), 422, 'invalid');
    refused(await call('POST', '/api/v1/projects', { name: 7 }), 400, 'invalid_request');

    // One service on a new app made for it, one on an app that already exists.
    expect(env.server.cli(['apps:create', 'shop-db']).code).to.equal(0);
    const web = ok(await call('POST', `/api/v1/projects/${project.id}/services`, { name: 'web' }), 201);
    expect(web).to.include({ name: 'web', app: 'shop-web', project: 'shop' });
    const db = ok(await call('POST', '/api/v1/projects/shop/services', { name: 'db', app: 'shop-db' }), 201);
    expect(db).to.include({ name: 'db', app: 'shop-db' });
    refused(await call('POST', '/api/v1/projects/shop/services', { name: 'web', app: 'shop-db' }), 409, 'service_exists');
    expect(query(env.server.home, 'SELECT name FROM apps WHERE name LIKE ? ORDER BY name', 'shop-%')).to.deep.equal([
      { name: 'shop-db' },
      { name: 'shop-web' },
    ]);

    // By id and by name, the project and each service are the same thing.
    const byId = ok(await call('GET', `/api/v1/projects/${project.id}`));
    expect(ok(await call('GET', '/api/v1/projects/shop'))).to.deep.equal(byId);
    expect(byId.services.map((s: any) => s.name)).to.deep.equal(['db', 'web']);
    for (const s of [web, db]) {
      const one = ok(await call('GET', `/api/v1/projects/${project.id}/services/${s.id}`));
      expect(one).to.deep.equal(s);
      expect(ok(await call('GET', `/api/v1/projects/shop/services/${s.name}`))).to.deep.equal(s);
      expect(ok(await call('GET', s.url))).to.deep.equal(s);
    }
    expect(ok(await call('GET', '/api/v1/projects/shop/services')).map((s: any) => s.id)).to.deep.equal([db.id, web.id]);
    expect(ok(await call('GET', '/api/v1/projects')).map((p: any) => p.name)).to.deep.equal(['shop']);

    // Rename the project and a service; the old names are gone, the ids stay.
    const renamed = ok(await call('PATCH', '/api/v1/projects/shop', { name: 'store', description: 'renamed' }));
    expect(renamed).to.include({ id: project.id, name: 'store', description: 'renamed' });
    refused(await call('GET', '/api/v1/projects/shop'), 404, 'project_not_found');
    expect(ok(await call('PATCH', `/api/v1/projects/store/services/${web.id}`, { name: 'frontend' }))).to.include({
      id: web.id,
      name: 'frontend',
      app: 'shop-web',
    });
    refused(await call('PATCH', '/api/v1/projects/store/services/frontend', { name: 'db' }), 409, 'service_exists');
    ok(await call('POST', '/api/v1/projects', { name: 'other' }), 201);
    refused(await call('PATCH', '/api/v1/projects/store', { name: 'other' }), 409, 'project_exists');
    expect(ok(await call('GET', `/api/v1/projects/${project.id}`)).name).to.equal('store');

    // An app is a service of one project at most.
    refused(await call('POST', '/api/v1/projects/other/services', { app: 'shop-db' }), 409, 'app_in_project');

    // Delete a service, then the project: confirmation first, and the apps stay.
    expect(ok(await call('DELETE', '/api/v1/projects/store/services/frontend')).removed.app).to.equal('shop-web');
    refused(await call('GET', `/api/v1/projects/store/services/${web.id}`), 404, 'service_not_found');
    const unconfirmed = await call('DELETE', '/api/v1/projects/store');
    refused(unconfirmed, 409, 'confirm_required');
    expect(unconfirmed.json.hint).to.include('confirm=store');
    refused(await call('DELETE', '/api/v1/projects/store?confirm=shop'), 409, 'confirm_required');
    expect(ok(await call('DELETE', `/api/v1/projects/${project.id}?confirm=store`)).unlinked_apps).to.deep.equal(['shop-db']);
    refused(await call('GET', `/api/v1/projects/${project.id}`), 404, 'project_not_found');
    ok(await call('GET', '/api/v1/apps/shop-db'));
    ok(await call('GET', '/api/v1/apps/shop-web'));
    expect(query(env.server.home, 'SELECT count(*) AS n FROM services')[0]).to.deep.equal({ n: 0 });
    // A project without services goes without a confirmation.
    ok(await call('DELETE', '/api/v1/projects/other'));
    expect(query(env.server.home, 'SELECT count(*) AS n FROM projects')[0]).to.deep.equal({ n: 0 });
  });

  it("names are unique per owner; another user's project answers exactly like a missing one", async () => {
    expect(env.server.cli(['users:add', 'bob']).code).to.equal(0);
    const bob = env.server.cli(['tokens:create', '--user', 'bob']).stdout.trim();
    const mine = ok(await call('POST', '/api/v1/projects', { name: 'demo' }), 201);
    const bobs = ok(await call('POST', '/api/v1/projects', { name: 'demo' }, bob), 201);
    expect(bobs.owner).to.equal('bob');
    expect(bobs.id).to.not.equal(mine.id);
    expect(ok(await call('GET', '/api/v1/projects', undefined, bob)).map((p: any) => p.id)).to.deep.equal([bobs.id]);

    const hidden = await call('GET', `/api/v1/projects/${mine.id}`, undefined, bob);
    const missing = await call('GET', '/api/v1/projects/999999', undefined, bob);
    expect(hidden.status).to.equal(404);
    expect(hidden.text.split(String(mine.id)).join('N')).to.equal(missing.text.split('999999').join('N'));
    refused(await call('PATCH', `/api/v1/projects/${mine.id}`, { name: 'mine-now' }, bob), 404, 'project_not_found');
    refused(await call('DELETE', `/api/v1/projects/${mine.id}`, undefined, bob), 404, 'project_not_found');
    // Bob may not make an admin's app his service either.
    expect(env.server.cli(['apps:create', 'admins-app']).code).to.equal(0);
    refused(await call('POST', '/api/v1/projects/demo/services', { app: 'admins-app' }, bob), 404, 'app_not_found');
    expect(ok(await call('GET', `/api/v1/projects/${mine.id}`)).name).to.equal('demo');
    expect(query(env.server.home, 'SELECT count(*) AS n FROM services')[0]).to.deep.equal({ n: 0 });
  });

  it('drives the same flow from the CLI', () => {
    const cli = (...args: string[]) => env.server.cli(args);
    expect(cli('projects:create', 'cli-proj', '--description', 'from the CLI').code).to.equal(0);
    expect(cli('apps:create', 'cli-api').code).to.equal(0);
    expect(cli('projects:add', 'cli-proj', 'cli-api', '--as', 'api').stdout).to.include('as service api');
    const info = cli('projects:info', 'cli-proj');
    expect(info.stdout).to.match(/api\s+cli-api/);
    const destroy = cli('projects:destroy', 'cli-proj');
    expect(destroy.code).to.equal(1);
    expect(destroy.stderr).to.include('--confirm cli-proj');
    expect(cli('projects:rename', 'cli-proj', 'cli-renamed').code).to.equal(0);
    expect(cli('projects').stdout).to.match(/cli-renamed\s+admin\s+api/);
    expect(cli('projects:remove', 'cli-renamed', 'api').code).to.equal(0);
    expect(cli('projects:create', 'cli-renamed').code).to.equal(1);
    expect(cli('projects:destroy', 'cli-renamed').code).to.equal(0);
    expect(query(env.server.home, "SELECT name FROM apps WHERE name = 'cli-api'")).to.have.length(1);
    expect(query(env.server.home, "SELECT name FROM projects WHERE name LIKE 'cli-%'")).to.deep.equal([]);
  });
});
