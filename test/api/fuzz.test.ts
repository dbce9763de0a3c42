import { expect } from 'chai';
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { appRepo, eventually, push, tmpdir, useServer } from '../e2e/harness.js';
import { api, type Answer } from './http.js';

/**
 * Hostile input on every route the server documents at /api/v1/openapi.json
 * (so routes added later are fuzzed too): wrong types, huge strings, path
 * traversal, control characters, unicode, odd numbers, malformed JSON, wrong
 * content types. Nothing may answer 5xx, every refusal is the JSON error
 * shape, the server keeps answering, and the database is unchanged.
 *
 * Inputs come from a seeded RNG: FUZZ_SEED=N reproduces a run.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20261122);

function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HUGE = 'A'.repeat(100_000);
/** Strings no route may take as a name, an id or a version. */
const HOSTILE = [
  '',
  ' ',
  '../../etc/passwd',
  '..%2f..%2fetc%2fpasswd',
  '%2e%2e%2f',
  '..',
  '.',
  'a\u0000b',
  '\u0000',
  '\r\nX-Injected: 1',
  '\u001b[31mred\u0007',
  '\u202egnp.exe',
  'ünïcødé ☃ 𝕊',
  '-1',
  '0',
  '99999999999999999999999999',
  '1e308',
  'NaN',
  "'; DROP TABLE apps; --",
  '$(touch /tmp/slipway-fuzz)',
  '{"$gt": ""}',
  'x'.repeat(3000),
  // Encoded `/`, `..`, `:` and NUL in one segment (the image reference that once killed the daemon; its port is the trap's, added below).
  'a/b',
  'a:b',
  'sha256:../../x',
  'slipway/../../x',
  '..\u0000',
  'x:v1/../..',
];
const WRONG_TYPES: Record<string, unknown[]> = {
  string: [-1, 0, 1e308, 2 ** 53 + 1, true, null, [], ['x'], { a: 1 }],
  integer: [-1.5, 'NaN', true, null, [], { a: 1 }],
  number: ['1', true, null, []],
  boolean: ['true', 1, null],
  object: ['{}', 1, [], null],
  array: ['[]', {}, 1],
};
/** Existing things, so a hostile value in one slot reaches code past the lookup of the others. */
const EXISTING: Record<string, string> = { app: 'fuzz-app', project: 'fuzz-proj', service: 'svc', version: 'v1', id: '1' };

interface Operation {
  method: string;
  path: string;
  op: any;
}

/**
 * Fetches go only where the egress rule lets them: servers a fetch may reach
 * listen on 127.0.0.2 (the one allowed range); the trap on 127.0.0.1 and ::1
 * is not allowed and must never see a connection.
 */
const ALLOWED = '127.0.0.2';

describe('api/fuzz', function () {
  this.timeout(300_000);
  const env = useServer({
    env: { SLIPWAY_EGRESS_ALLOW: `${ALLOWED}/32`, SLIPWAY_EGRESS_IDLE_TIMEOUT: '2', SLIPWAY_WEBHOOK_RETRY_MS: '50' },
  });
  const trapHits: string[] = [];
  let trapPort = 0;
  let redirector = '';
  const closers: Array<() => void> = [];
  let token = '';
  let doc: any;
  let requests = 0;
  const random = rng(SEED);
  const pick = <T>(xs: T[], n: number): T[] => [...xs].sort(() => random() - 0.5).slice(0, n);

  before(async () => {
    const cli = (...args: string[]) => {
      const r = env.server.cli(args);
      if (r.code !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
      return r.stdout.trim();
    };
    token = cli('tokens:create', '--name', 'fuzz');
    cli('apps:create', 'fuzz-app');
    cli('projects:create', 'fuzz-proj', '--description', 'fuzzed');
    cli('projects:add', 'fuzz-proj', 'fuzz-app', '--as', 'svc');
    doc = (await api(env.server, { path: '/api/v1/openapi.json' })).json;

    for (const host of ['127.0.0.1', '::1']) {
      const trap = net.createServer((c) => {
        trapHits.push(`${host} from ${c.remoteAddress}`);
        c.destroy();
      });
      await new Promise<void>((r) => trap.listen(trapPort, host, () => r()));
      trapPort = (trap.address() as net.AddressInfo).port;
      closers.push(() => trap.close());
    }
    HOSTILE.push(`x/../../127.0.0.1:${trapPort}/z`, `x/../../[::1]:${trapPort}/z`);
    const hops = http.createServer((_req, res) => res.writeHead(302, { location: `http://127.0.0.1:${trapPort}/secret` }).end());
    await new Promise<void>((r) => hops.listen(0, ALLOWED, () => r()));
    redirector = `http://${ALLOWED}:${(hops.address() as net.AddressInfo).port}`;
    closers.push(() => hops.close());
  });

  after(() => {
    closers.forEach((c) => c());
    expect(trapHits, 'connections to a forbidden address').to.deep.equal([]);
  });

  function snapshot(): Record<string, unknown[]> {
    const db = new Database(path.join(env.server.home, 'slipway.db'), { readonly: true, fileMustExist: true });
    try {
      // The audit log records the refusals themselves; it is checked on its own below.
      const tables = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'audit_log' ORDER BY name")
        .all() as Array<{ name: string }>;
      // Authenticating stamps a token's last use; that is bookkeeping, not state a request changed.
      return Object.fromEntries(
        tables.map(({ name }) => [
          name,
          (db.prepare(`SELECT * FROM "${name}" ORDER BY rowid`).all() as any[]).map(({ last_used_at: _, ...row }) => row),
        ]),
      );
    } finally {
      db.close();
    }
  }

  function lastAuditId(): number {
    const db = new Database(path.join(env.server.home, 'slipway.db'), { readonly: true, fileMustExist: true });
    try {
      return (db.prepare('SELECT coalesce(max(id), 0) AS id FROM audit_log').get() as { id: number }).id;
    } finally {
      db.close();
    }
  }

  function operations(): Operation[] {
    const ops: Operation[] = [];
    for (const [p, methods] of Object.entries(doc.paths as Record<string, any>)) {
      for (const [method, op] of Object.entries(methods as Record<string, any>)) ops.push({ method: method.toUpperCase(), path: p, op });
    }
    return ops;
  }

  const paramsIn = (op: any, where: string): any[] => (op.parameters ?? []).filter((p: any) => p.in === where);
  const fill = (template: string, values: Record<string, string>) =>
    template.replace(/\{(\w+)\}/g, (_, n: string) => values[n] ?? 'nosuch');
  const existing = (o: Operation) =>
    Object.fromEntries(paramsIn(o.op, 'path').map((p: any) => [p.name, encodeURIComponent(EXISTING[p.name] ?? 'nosuch')]));
  const jsonBody = (o: Operation) => o.op.requestBody?.content?.['application/json']?.schema;

  async function send(what: string, opts: Parameters<typeof api>[1]): Promise<Answer> {
    requests++;
    const r = await api(env.server, opts);
    const label = `${what} (FUZZ_SEED=${SEED}): ${opts.method ?? 'GET'} ${opts.path.slice(0, 200)} -> ${r.status} ${r.text.slice(0, 300)}`;
    expect(r.status, label).to.be.below(500);
    if (r.status >= 400) {
      expect(r.headers['content-type'], label).to.match(/^application\/json/);
      expect(r.json, label).to.be.an('object');
      expect(r.json.error, label).to.be.a('string');
      expect(r.json.message, label).to.be.a('string');
      expect(r.json.hint, label).to.be.a('string');
    }
    return r;
  }

  async function stillServing(what: string) {
    expect(env.server.proc?.exitCode, `${what}: the server exited`).to.equal(null);
    const health = await api(env.server, { path: '/api/v1/health' });
    expect(health.status, what).to.equal(200);
    expect(health.json).to.deep.equal({ ok: true });
  }

  it('documents every route with a summary, tags, its parameters and the shared error shape', () => {
    expect(doc.openapi).to.match(/^3\.0\./);
    expect(doc.components.securitySchemes.bearer).to.include({ type: 'http', scheme: 'bearer' });
    expect(doc.components.schemas.Error.required).to.deep.equal(['error', 'message']);
    const ops = operations();
    expect(ops.map((o) => `${o.method} ${o.path}`)).to.include.members([
      'GET /api/v1/projects',
      'POST /api/v1/projects',
      'GET /api/v1/projects/{project}',
      'PATCH /api/v1/projects/{project}',
      'DELETE /api/v1/projects/{project}',
      'GET /api/v1/projects/{project}/services/{service}',
      'GET /api/v1/apps/{app}/releases/{version}',
      'POST /api/v1/apps/{app}/artifacts',
    ]);
    for (const o of ops) {
      const what = `${o.method} ${o.path}`;
      expect(o.path, what).to.not.include(':');
      expect(o.op.summary, what).to.be.a('string');
      expect(o.op.tags, what).to.be.an('array').that.is.not.empty;
      const templated = [...o.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      expect(
        paramsIn(o.op, 'path').map((p: any) => p.name),
        what,
      ).to.have.members(templated);
      if (o.op.security?.length !== 0)
        expect(o.op.responses['401'], `${what} documents 401`).to.deep.include({
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        });
    }
  });

  it('survives hostile input on every documented route without a 5xx, a crash or a change of state', async () => {
    const before = snapshot();
    const auditBefore = lastAuditId();
    const ops = operations();
    for (const o of ops) {
      const base = fill(o.path, existing(o));
      const isPublic = Array.isArray(o.op.security) && o.op.security.length === 0;

      // No token, or a wrong one.
      if (!isPublic) {
        expect((await send('no token', { method: o.method, path: base })).status).to.equal(401);
        expect((await send('bad token', { method: o.method, path: base, token: 'slp_' + 'x'.repeat(40) })).status).to.equal(401);
      }

      // Each path parameter, hostile, the others naming existing things; %-encoded, and raw where HTTP allows.
      for (const param of paramsIn(o.op, 'path')) {
        for (const value of HOSTILE) {
          const values = { ...existing(o), [param.name]: encodeURIComponent(value) };
          await send(`path ${param.name}`, { method: o.method, path: fill(o.path, values), token });
          if (/^[\x21-\x7e]+$/.test(value) && !value.includes('?') && !value.includes('#')) {
            await send(`raw path ${param.name}`, { method: o.method, path: fill(o.path, { ...values, [param.name]: value }), token });
          }
        }
        await send('bad %-escape', { method: o.method, path: fill(o.path, { ...existing(o), [param.name]: '%zz%' }), token });
      }

      // Query parameters: hostile values on reads of existing things, on changes only where nothing exists.
      for (const q of paramsIn(o.op, 'query')) {
        const target = o.method === 'GET' ? base : fill(o.path, {});
        for (const value of pick(HOSTILE, 10))
          await send(`query ${q.name}`, { method: o.method, path: `${target}?${q.name}=${encodeURIComponent(value)}`, token });
        await send(`query ${q.name} twice`, { method: o.method, path: `${target}?${q.name}=a&${q.name}=b`, token });
      }
      if (o.method === 'GET') await send('unknown query', { method: o.method, path: `${base}?zz%00=%ff&__proto__=1`, token });

      const schema = jsonBody(o);
      if (schema) {
        // Bodies that are wrong before any field is read.
        const json = { 'content-type': 'application/json' };
        const malformed: Array<[string, number, unknown, Record<string, string>?]> = [
          ['malformed JSON', 400, '{"name": ', json],
          ['JSON with a NUL', 400, '{"name": "a\u0000', json],
          ['a JSON array', 400, '[1,2]', json],
          ['a JSON string', 400, '"x"', json],
          ['JSON null', 400, 'null', json],
          ['a prototype-polluting body', 400, '{"__proto__": {"admin": true}, "constructor": {"prototype": {"x": 1}}}', json],
          ['form data', 415, 'name=x', { 'content-type': 'application/x-www-form-urlencoded' }],
          ['text', 400, 'name', { 'content-type': 'text/plain' }],
          ['xml', 415, '<name>x</name>', { 'content-type': 'application/xml' }],
          ['an unknown field', 400, { zzz: 1 }],
          ['a 2 MB body', 413, JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }), json],
        ];
        for (const [what, status, body, headers] of malformed) {
          // A body over the limit may also be refused by closing the connection before the 413 could be read.
          const big = status === 413;
          const got = (await send(what, { method: o.method, path: base, token, body, headers, refusedByClose: big })).status;
          expect(got, `${what} on ${o.method} ${o.path}`).to.be.oneOf(big ? [413, 0] : [status]);
        }

        // Each field of the body alone: wrong types against existing things, hostile strings where nothing exists.
        for (const [field, prop] of Object.entries((schema.properties ?? {}) as Record<string, any>)) {
          const types: string[] = prop.type ? [prop.type] : (prop.oneOf?.map((t: any) => t.type) ?? []);
          const wrong = Object.entries(WRONG_TYPES)
            .filter(([t]) => !types.includes(t))
            .flatMap(([, values]) => values)
            .filter(
              (v) =>
                !(v === null && prop.nullable) &&
                !types.some((t) => (t === 'integer' || t === 'number') && typeof v === 'number' && Number.isInteger(v)) &&
                !(types.includes('string') && typeof v === 'string'),
            );
          for (const value of pick(wrong, 6))
            await send(`${field} of a wrong type`, { method: o.method, path: base, token, body: { [field]: value } });
          const nowhere = fill(o.path, {});
          for (const value of [HUGE, ...pick(HOSTILE, 8)])
            await send(`${field} hostile`, { method: o.method, path: nowhere, token, body: { [field]: value } });
        }
      }

      // Raw uploads: bytes that are not an archive, under the wrong content types.
      if (o.op.requestBody && !schema) {
        const junk = crypto.createHash('sha256').update(String(random())).digest();
        junk[0] = 0; // never the gzip magic
        for (const type of ['application/gzip', 'application/json', 'text/plain', 'multipart/form-data; boundary=x']) {
          await send(`upload as ${type}`, {
            method: o.method,
            path: `${base}?sha256=${junk.toString('hex').padEnd(64, '0').slice(0, 64)}`,
            token,
            body: junk,
            headers: { 'content-type': type },
          });
        }
        await send('upload without a body', { method: o.method, path: base, token, headers: { 'content-type': 'application/gzip' } });
      }

      // A method the route does not have.
      await send('wrong method', { method: o.method === 'PUT' ? 'PATCH' : 'PUT', path: base, token, body: {} });
      await stillServing(`${o.method} ${o.path}`);
    }
    await send('no such route', { method: 'GET', path: '/api/v1/../../etc/passwd', token });
    await send('no such route', { method: 'GET', path: '/api/v1/%2e%2e/%2e%2e/etc/passwd', token });
    await stillServing('the end');
    expect(snapshot(), `state changed (FUZZ_SEED=${SEED})`).to.deep.equal(before);
    // Every change attempt was audited as refused; none as done.
    const audit = new Database(path.join(env.server.home, 'slipway.db'), { readonly: true, fileMustExist: true });
    try {
      const done = audit.prepare("SELECT action, detail FROM audit_log WHERE outcome = 'ok' AND id > ?").all(auditBefore);
      expect(done, `audited as done (FUZZ_SEED=${SEED})`).to.deep.equal([]);
      expect((audit.prepare('SELECT count(*) AS n FROM audit_log WHERE id > ?').get(auditBefore) as { n: number }).n).to.be.greaterThan(0);
    } finally {
      audit.close();
    }
    // A 5xx is logged as `api: METHOD URL: …`; none may have happened, even one answered in time.
    expect(env.server.output).to.not.match(/^api: /m);
    expect(requests).to.be.within(300, 5000);
    process.stdout.write(`      ${requests} requests on ${ops.length} routes, seed ${SEED}\n`);
  });

  it('refuses every URL-ish setting at internal addresses and server files, for members and admins: no 5xx, no crash, no connection', async function () {
    this.timeout(600_000);
    const server = env.server;
    const cli = (...args: string[]) => {
      const r = server.cli(args);
      if (r.code !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
      return r.stdout.trim();
    };
    cli('users:add', 'fuzz-member');
    const member = cli('tokens:create', '--user', 'fuzz-member');
    const dir = tmpdir('fuzz-egress');
    const fifo = path.join(dir, 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).to.equal(0);
    const sock = path.join(dir, 'sock');
    const unix = net.createServer((c) => c.destroy());
    await new Promise<void>((r) => unix.listen(sock, () => r()));
    closers.push(() => unix.close());
    const values = [
      `file://${fifo}`,
      `file://${sock}`,
      fifo,
      sock,
      'file:///etc/passwd',
      `file://${server.home}/slipway.db`,
      `http://127.0.0.1:${trapPort}/x`,
      `http://127.0.0.1:${server.ports.http}/api/v1/health`,
      'http://169.254.169.254/latest/meta-data/',
      `http://[::1]:${trapPort}/x`,
      `http://[::ffff:127.0.0.1]:${trapPort}/x`,
      `http://localhost:${trapPort}/x`,
      `${redirector}/to-loopback`,
      `git://127.0.0.1:${trapPort}/x.git`,
      `ssh://127.0.0.1:${trapPort}/x.git`,
      `git@127.0.0.1:x.git`,
      `-uhttp://${ALLOWED}/x`,
      'ext::sh -c touch% /tmp/slipway-fuzz',
    ];

    /** One request under the fuzz rules; a CLI answer is NDJSON ending in its exit code. */
    const run = async (as: string, argv: string[]): Promise<{ code: number; text: string }> => {
      const r = await send(`${argv[0]} as ${as === member ? 'a member' : 'an admin'}`, {
        method: 'POST',
        path: '/api/v1/cli',
        token: as,
        body: { argv },
      });
      if (r.status !== 200) return { code: -1, text: r.text };
      const lines = r.text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { out?: string; err?: string; exit?: number });
      return { code: lines.at(-1)?.exit ?? -1, text: lines.map((l) => l.out ?? l.err ?? '').join('') };
    };
    let tried = 0;
    let used = 0;
    for (const [who, user] of [
      ['member', member],
      ['admin', token],
    ] as const) {
      const apps = { final: `fz-${who}-final`, dev: `fz-${who}-dev`, stg: `fz-${who}-stg` };
      expect((await run(user, ['apps:create', apps.final, '--env', 'prod'])).code).to.equal(0);
      expect((await run(user, ['apps:create', apps.dev, '--env', 'dev'])).code).to.equal(0);
      expect((await run(user, ['apps:create', apps.stg, '--env', 'staging'])).code).to.equal(0);
      // A branch to build, so a deploy of the staging app reaches its buildpacks.
      const pushed = await push(appRepo('env-app'), server.httpRemote(apps.stg, user));
      expect(pushed.code, pushed.stderr).to.equal(0);
      // Webhooks first: the failing deploys below send them events.
      const settings: Array<[string, string, (v: string) => string[]]> = [
        ['webhook URL', apps.final, (v) => ['webhooks:add', apps.final, v]],
        ['artifact_urls', apps.final, (v) => ['apps:set', apps.final, `artifact_urls=${v}`]],
        ['origin', apps.dev, (v) => ['apps:set', apps.dev, `origin=${v}`]],
        ['buildpack_url', apps.stg, (v) => ['apps:set', apps.stg, `buildpack_url=${v}`]],
        ['BUILDPACK_URL', apps.stg, (v) => ['config:set', apps.stg, `BUILDPACK_URL=${v}`]],
      ];
      for (const [name, app, argv] of settings) {
        const accepted: string[] = [];
        for (const value of values) {
          const set = await run(user, argv(value));
          if (set.code !== 0) continue;
          accepted.push(value);
          // Accepted: the use-time check must refuse it, with one line naming the setting.
          if (name === 'webhook URL') continue;
          const deployed = await run(user, ['deploy', app]);
          expect(deployed.code, `${who} ${name}=${value} deployed: ${deployed.text}`).to.not.equal(0);
          // A member's value got this far only by naming a host: refused by name, or (a redirect) not followed.
          if (who === 'member')
            expect(deployed.text, `${name}=${value}`).to.match(new RegExp(`${name}: |unknown buildpack|git clone failed`));
          await run(user, name === 'BUILDPACK_URL' ? ['config:unset', app, 'BUILDPACK_URL'] : argv(''));
        }
        // A member gets past the setter only with a host name (checked when used); files, paths and literal internal addresses stop there.
        const byName = [
          `http://localhost:${trapPort}/x`,
          `${redirector}/to-loopback`,
          ...(name === 'BUILDPACK_URL' ? [values.at(-1)!] : []),
        ];
        if (who === 'member')
          expect(accepted, `${name} accepted ${JSON.stringify(accepted)}`)
            .to.include.members(byName.slice(0, 2))
            .and.to.satisfy((a: string[]) => a.every((v) => byName.includes(v)));
        tried += values.length;
        used += name === 'webhook URL' ? 0 : accepted.length;
      }
      // Every webhook that was accepted has been tried by now (the deploys above sent events) and reached nothing.
      await eventually(
        async () => !/pending|retrying/.test((await run(user, ['webhooks:deliveries', apps.final])).text),
        'webhook deliveries to settle',
        60_000,
      );
    }
    expect(server.output).to.not.match(/^api: /m);
    const health = await api(server, { path: '/api/v1/health' });
    expect(health.status).to.equal(200);
    fs.rmSync(dir, { recursive: true, force: true });
    process.stdout.write(`      ${tried} settings tried, ${used} accepted values deployed and refused or failed at use\n`);
  });
});
