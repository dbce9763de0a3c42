import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { BuildError, runBuildpacks } from '../../src/builder/buildpacks.js';
import { cleanup, sandbox } from './helpers.js';

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

describe('build/built-in buildpacks', function () {
  this.timeout(60_000);
  after(cleanup);

  it('nodejs: installs with the host npm, writes .profile.d and uses the start script', async () => {
    const sb = await sandbox('node-hello');
    const result = await runBuildpacks(sb.opts());
    expect(result.buildpacks).to.deep.equal(['nodejs']);
    expect(result.processTypes).to.deep.equal({ web: 'npm start' });
    expect(sb.lines).to.include('-----> Node.js app detected');
    // The npm version is read from npm's package.json, not from a start of npm: it must be what npm says.
    const npmVersion = spawnSync('npm', ['--version'], { encoding: 'utf8' }).stdout.trim();
    expect(sb.lines).to.include(`       Using host node ${process.version} and npm ${npmVersion}`);
    expect(sb.lines).to.include('       Running npm install (no package-lock.json)');
    // No build script and no devDependencies: neither a build nor a start of npm to prune nothing.
    expect(sb.lines).to.not.include('-----> Running build');
    const pruning = sb.lines.indexOf('-----> Pruning devDependencies');
    expect(sb.lines[pruning + 1]).to.equal('       None in package.json');
    const profile = await readFile(path.join(sb.buildDir, '.profile.d', 'nodejs.sh'), 'utf8');
    expect(profile).to.contain('$HOME/node_modules/.bin');
    expect(await exists(path.join(sb.cacheDir, 'npm'))).to.equal(true);
  });

  it("nodejs: the profile turns off npm's registry check at start, unless the app sets it", async () => {
    const sb = await sandbox('node-hello');
    await runBuildpacks(sb.opts());
    // What npm itself reads after the profile, as a process's launcher sources it (`set -a`).
    const npmSays = async (env: Record<string, string>) => {
      const child = spawn('bash', ['-c', 'set -a; . .profile.d/nodejs.sh; set +a; exec npm config get update-notifier'], {
        cwd: sb.buildDir,
        env: { PATH: process.env.PATH!, HOME: sb.buildDir, ...env },
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      const [code] = await once(child, 'close');
      expect(code).to.equal(0);
      return out.trim();
    };
    expect(await npmSays({})).to.equal('false');
    expect(await npmSays({ NPM_CONFIG_UPDATE_NOTIFIER: 'true' })).to.equal('true');
    expect(await npmSays({ npm_config_update_notifier: 'true' })).to.equal('true');
  });

  it('nodejs: runs the build script with dev dependencies, then prunes them', async () => {
    const sb = await sandbox('node-hello');
    // A local `file:` devDependency keeps this offline while exercising install → build → prune.
    await mkdir(path.join(sb.buildDir, 'tools'));
    await writeFile(path.join(sb.buildDir, 'tools', 'package.json'), JSON.stringify({ name: 'tools', version: '1.0.0' }));
    await writeFile(path.join(sb.buildDir, 'tools', 'index.js'), 'module.exports = "built by tools";\n');
    const pkg = JSON.parse(await readFile(path.join(sb.buildDir, 'package.json'), 'utf8'));
    pkg.scripts.build = "node -e \"require('fs').writeFileSync('dist.txt', require('tools'))\"";
    pkg.devDependencies = { tools: 'file:./tools' };
    await writeFile(path.join(sb.buildDir, 'package.json'), JSON.stringify(pkg, null, 2));

    // NODE_ENV=production as a config var must not stop dev dependencies from being installed for the build.
    await runBuildpacks(sb.opts({ env: { NODE_ENV: 'production' } }));
    expect(await readFile(path.join(sb.buildDir, 'dist.txt'), 'utf8')).to.equal('built by tools');
    expect(sb.lines).to.include('-----> Running build');
    expect(await exists(path.join(sb.buildDir, 'node_modules', 'tools'))).to.equal(false);
    expect(await exists(path.join(sb.buildDir, 'package-lock.json'))).to.equal(true);

    // The second build has a lockfile, so it takes the `npm ci` path.
    sb.lines.length = 0;
    await runBuildpacks(sb.opts());
    expect(sb.lines).to.include('       Running npm ci');
  });

  it('nodejs: a failing build script fails the build with the buildpack name and exit code', async () => {
    const sb = await sandbox('node-hello');
    const pkg = JSON.parse(await readFile(path.join(sb.buildDir, 'package.json'), 'utf8'));
    pkg.scripts.build = 'node -e "process.exit(7)"';
    await writeFile(path.join(sb.buildDir, 'package.json'), JSON.stringify(pkg));
    const err = await runBuildpacks(sb.opts()).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(BuildError);
    expect((err as BuildError).message).to.equal('nodejs buildpack: compile failed (exit 7)');
    expect((err as BuildError).buildpack).to.equal('nodejs');
    expect((err as BuildError).exitCode).to.equal(7);
  });

  it('procfile: builds nothing and takes the process types from the Procfile', async () => {
    const sb = await sandbox('procfile-hello');
    const result = await runBuildpacks(sb.opts());
    expect(result).to.deep.equal({ buildpacks: ['procfile'], processTypes: { web: 'node server.js' }, configVars: {} });
    expect(sb.lines).to.include('-----> Procfile app detected');
  });

  it('python: detects app.py, skips pip for an empty requirements.txt, sets PYTHONPATH', async () => {
    const sb = await sandbox('python-hello');
    const result = await runBuildpacks(sb.opts());
    expect(result.buildpacks).to.deep.equal(['python']);
    expect(result.processTypes).to.deep.equal({ web: 'python3 app.py' });
    expect(sb.lines).to.include('-----> Python app detected');
    expect(sb.lines).to.include('-----> No requirements to install');
    const profile = await readFile(path.join(sb.buildDir, '.profile.d', 'python.sh'), 'utf8');
    expect(profile).to.contain('PYTHONPATH="$HOME/.python-packages');
  });

  it('python: says clearly when the package index cannot be reached', async () => {
    const sb = await sandbox('python-hello');
    await writeFile(path.join(sb.buildDir, 'requirements.txt'), 'slipway-no-such-package-zz9==1.0\n');
    const env = { PIP_INDEX_URL: 'http://127.0.0.1:9/simple', PIP_RETRIES: '0', PIP_TIMEOUT: '2' };
    const err = await runBuildpacks(sb.opts({ env })).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(BuildError);
    expect((err as BuildError).message).to.equal('python buildpack: compile failed (exit 1)');
    expect(sb.lines.join('\n')).to.contain('The Python package index could not be reached');
  });

  describe('static', () => {
    let server: ChildProcess | undefined;
    afterEach(() => server?.kill());

    it('serves the site with content types, 404s and no path traversal', async () => {
      const sb = await sandbox('static-hello');
      await writeFile(path.join(sb.root, 'secret.txt'), 'outside the app');
      await writeFile(path.join(sb.buildDir, '.env'), 'SECRET=1');
      const result = await runBuildpacks(sb.opts());
      expect(result.buildpacks).to.deep.equal(['static']);
      expect(result.processTypes).to.deep.equal({ web: 'node .slipway-static/server.mjs' });

      const port = await freePort();
      server = spawn('node', ['.slipway-static/server.mjs'], { cwd: sb.buildDir, env: { PATH: process.env.PATH, PORT: String(port) } });
      await once(server.stdout!, 'data');

      const index = await get(port, '/');
      expect(index.status).to.equal(200);
      expect(index.type).to.equal('text/html; charset=utf-8');
      expect(index.body).to.contain('Hello from Slipway');
      expect((await get(port, '/style.css')).type).to.equal('text/css; charset=utf-8');
      expect((await get(port, '/missing.html')).status).to.equal(404);
      for (const evil of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/.env', '/.slipway-static/server.mjs']) {
        const res = await get(port, evil);
        expect(res.status, evil).to.equal(404);
      }
    });

    it('serves public/ when the site lives there', async () => {
      const sb = await sandbox();
      await mkdir(path.join(sb.buildDir, 'public'));
      await writeFile(path.join(sb.buildDir, 'public', 'index.html'), '<h1>public</h1>');
      await writeFile(path.join(sb.buildDir, 'notes.txt'), 'not published');
      await runBuildpacks(sb.opts());
      const port = await freePort();
      server = spawn('node', ['.slipway-static/server.mjs'], { cwd: sb.buildDir, env: { PATH: process.env.PATH, PORT: String(port) } });
      await once(server.stdout!, 'data');
      expect((await get(port, '/')).body).to.equal('<h1>public</h1>');
      expect((await get(port, '/notes.txt')).status).to.equal(404);
    });
  });

  it('fails with a hint naming what each built-in looks for when nothing matches', async () => {
    const sb = await sandbox();
    await writeFile(path.join(sb.buildDir, 'README.md'), '# nothing to run');
    const err = await runBuildpacks(sb.opts()).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(BuildError);
    expect((err as BuildError).message).to.equal('no buildpack detected for this app');
    for (const needle of ['package.json', 'requirements.txt', 'index.html', 'Procfile'])
      expect((err as BuildError).hint).to.contain(needle);
    await rm(sb.buildDir, { recursive: true });
  });
});

async function freePort(): Promise<number> {
  const srv = net.createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as net.AddressInfo;
  srv.close();
  return port;
}

/** A raw GET, so paths like `/../x` reach the server as written instead of being normalised by a client. */
function get(port: number, rawPath: string): Promise<{ status: number; type?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: rawPath, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}
