import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import type { BuildRequest } from '../../src/builder/builder.js';
import { createBuilders } from '../../src/builder/builders.js';
import { HostBuilder } from '../../src/builder/host-builder.js';
import { GuestHost } from '../../src/guest/host.js';
import type { ImageBuilder } from '../../src/builder/builder.js';
import { requires } from '../support/requires.js';
import { BUILTIN_DIR, cleanup, makeBuildpack, tempDir } from './helpers.js';

/** A buildpack in the app's source that says who built it and what ENV_DIR held. */
const PROBE = {
  detect: 'echo Probe',
  compile: 'echo "uid=$(id -u) greeting=$(cat "$3/GREETING")" > "$1/built.txt"; echo "-----> probed"',
  release: 'echo "--- {}"',
};

/** A build request of a fresh app whose source names the probe buildpack (`.buildpacks`). */
async function request(user?: BuildRequest['user']): Promise<{ req: BuildRequest; lines: string[] }> {
  const root = await tempDir();
  const buildDir = path.join(root, 'build');
  await makeBuildpack(path.join(buildDir, 'probe'), PROBE);
  fs.writeFileSync(path.join(buildDir, '.buildpacks'), './probe\n');
  fs.writeFileSync(path.join(buildDir, 'Procfile'), 'web: ./serve\n');
  // As the pipeline's dirs are: the app's own, searchable by its guest user.
  fs.chmodSync(root, 0o755);
  const lines: string[] = [];
  const req: BuildRequest = {
    app: { id: 1, name: 'probed' },
    release: 1,
    jobId: 7,
    buildDir,
    context: { kind: 'dir', dir: buildDir },
    env: { GREETING: 'hello' },
    envDir: path.join(root, 'env'),
    cacheDir: path.join(root, 'cache'),
    workDir: path.join(root, 'tmp'),
    builtinDir: BUILTIN_DIR,
    user,
    mayUse: () => false,
    log: (l) => lines.push(l),
    signal: new AbortController().signal,
  };
  return { req, lines };
}

describe('builder/builders: one builder of each kind', () => {
  it('buildpack builders ask for the egress check, the Dockerfile builder does not; none touches the engine until it builds', () => {
    let asked = 0;
    const builders = createBuilders({
      images: () => {
        asked++;
        return {} as ImageBuilder;
      },
    });
    expect(Object.fromEntries(Object.entries(builders).map(([k, b]) => [k, b.runsBuildpacks]))).to.deep.equal({
      host: true,
      container: true,
      dockerfile: false,
    });
    expect(asked).to.equal(0);
  });
});

describe('builder/host-builder: buildpacks on this host', function () {
  this.timeout(60_000);
  after(cleanup);

  it("without guests: builds as the server's user, with ENV_DIR written from the config and the Procfile's types", async () => {
    const { req, lines } = await request();
    const result = await new HostBuilder().build(req);
    expect(fs.readFileSync(path.join(req.buildDir, 'built.txt'), 'utf8')).to.equal(`uid=${process.getuid!()} greeting=hello\n`);
    expect(result.buildpacks).to.deep.equal(['./probe']);
    expect(result.processTypes).to.deep.equal({ web: './serve' });
    expect(lines).to.include('-----> probed');
  });

  describe('with guests', () => {
    requires('guests');
    const USER = { uid: 64177, gid: 64177 };

    it("runs the build in a guest as the app's own user", async () => {
      const home = await tempDir('slipway-home-');
      const { req, lines } = await request(USER);
      const result = await new HostBuilder(await GuestHost.create({ home })).build(req);
      expect(fs.readFileSync(path.join(req.buildDir, 'built.txt'), 'utf8')).to.equal(`uid=${USER.uid} greeting=hello\n`);
      expect(result.processTypes).to.deep.equal({ web: './serve' });
      expect(lines).to.include('-----> probed');
      // ENV_DIR is the app user's to read, and nobody else's.
      expect(fs.statSync(req.envDir).uid).to.equal(USER.uid);
    });

    it('without the build agent (no C compiler), builds in one guest through the node runner, as the same user', async () => {
      const home = await tempDir('slipway-home-');
      const { req, lines } = await request(USER);
      const result = await new HostBuilder(await GuestHost.create({ home }), { agent: false }).build(req);
      expect(fs.readFileSync(path.join(req.buildDir, 'built.txt'), 'utf8')).to.equal(`uid=${USER.uid} greeting=hello\n`);
      expect(result.processTypes).to.deep.equal({ web: './serve' });
      expect(lines).to.include('-----> probed');
    });

    it("never writes where a step of the build put a link: the next buildpack's copy is the app user's, and the host is untouched", async () => {
      const home = await tempDir('slipway-home-');
      const victim = await tempDir('slipway-victim-');
      const { req } = await request(USER);
      // Its detect runs as the app's user and swaps the build's buildpacks folder for a link to a host dir.
      await makeBuildpack(path.join(req.buildDir, 'evil'), {
        detect: `rm -rf "$HOME/../buildpacks"; ln -s ${victim} "$HOME/../buildpacks"; echo Evil`,
        compile: 'true',
        release: 'echo "--- {}"',
      });
      fs.writeFileSync(path.join(req.buildDir, '.buildpacks'), './evil\n./probe\n');
      const err = await new HostBuilder(await GuestHost.create({ home })).build(req).catch((e: Error) => e);
      expect(String(err)).to.match(/probe buildpack: .* could not be copied/);
      expect(fs.readdirSync(victim)).to.deep.equal([]);
    });

    it("does not tell the build whether a host path exists: a buildpack's bin/release linked there is looked for in the guest", async () => {
      const home = await tempDir('slipway-home-');
      const host = await tempDir('slipway-host-');
      fs.writeFileSync(path.join(host, 'present'), '#!/bin/sh\necho "--- {}"\n', { mode: 0o755 });
      const outcomes: string[] = [];
      for (const target of ['present', 'absent']) {
        const { req } = await request(USER);
        fs.rmSync(path.join(req.buildDir, 'probe', 'bin', 'release'));
        fs.symlinkSync(path.join(host, target), path.join(req.buildDir, 'probe', 'bin', 'release'));
        const built = await new HostBuilder(await GuestHost.create({ home })).build(req).then(
          (r) => `built ${JSON.stringify(r.processTypes)}`,
          (e: Error) => e.message,
        );
        outcomes.push(built);
      }
      expect(outcomes[0]).to.equal(outcomes[1]);
    });

    it('runs a built-in where it is, read-only: a step of the build cannot change it for the next app', async () => {
      const home = await tempDir('slipway-home-');
      const { req, lines } = await request(USER);
      const compileFile = path.join(BUILTIN_DIR, 'procfile', 'bin', 'compile');
      const before = fs.readFileSync(compileFile, 'utf8');
      // The app's own buildpack runs first and tries to rewrite the built-in that runs after it.
      await makeBuildpack(path.join(req.buildDir, 'evil'), {
        detect: 'echo Evil',
        compile: `(printf 'echo pwned' > ${compileFile}) 2>/dev/null || true; touch ${path.join(BUILTIN_DIR, 'procfile', 'export')} 2>/dev/null || true`,
        release: 'echo "--- {}"',
      });
      fs.writeFileSync(path.join(req.buildDir, '.buildpacks'), './evil\nprocfile\n');
      const result = await new HostBuilder(await GuestHost.create({ home })).build(req);
      expect(result.buildpacks).to.deep.equal(['./evil', 'procfile']);
      expect(lines).to.include('-----> Nothing to build: running the app as its Procfile says');
      expect(lines).to.not.include('pwned');
      expect(fs.readFileSync(compileFile, 'utf8')).to.equal(before);
      expect(fs.existsSync(path.join(BUILTIN_DIR, 'procfile', 'export'))).to.equal(false);
      // No copy of it was made: the app's own buildpack was copied, the built-in was not.
      expect(fs.readdirSync(path.join(req.workDir, 'buildpacks'))).to.deep.equal(['0-evil']);
    });

    it('binds no host path into the guest for a spec the build does not know (only an admin path or file:// URL is bound)', async () => {
      const home = await tempDir('slipway-home-');
      const secret = await tempDir('slipway-secret-');
      fs.writeFileSync(path.join(secret, 'secret.txt'), 'the server keeps this\n', { mode: 0o644 });
      fs.chmodSync(secret, 0o755);
      const { req } = await request(USER);
      await makeBuildpack(path.join(req.buildDir, 'peek'), {
        detect: `cat ${secret}/secret.txt > "$1/leak.txt" 2>&1 || true; echo Peek`,
        compile: 'true',
        release: 'echo "--- {}"',
      });
      fs.writeFileSync(path.join(req.buildDir, '.buildpacks'), `./peek\nfile:${secret}\n`);
      const err = await new HostBuilder(await GuestHost.create({ home })).build(req).catch((e: Error) => e);
      expect(String(err)).to.match(/unknown buildpack/);
      expect(fs.readFileSync(path.join(req.buildDir, 'leak.txt'), 'utf8')).to.not.include('the server keeps this');
    });
  });
});
