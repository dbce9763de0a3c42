import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { addBuildpack, appRepo, commitAll, push, setMessage, useServer } from './harness.js';

/**
 * The daemon reads a few files of every app as root: its Procfile, app.json
 * and .buildpacks, and what its build leaves. A member who commits them as
 * links to the host's files, or whose build swaps them for a FIFO, gets one
 * line saying what is wrong — never a byte of the host's file, a daemon that
 * reads /dev/zero until it runs out of memory, or one stuck on a FIFO.
 */
describe('e2e: files of an app that point at the host', function () {
  this.timeout(180_000);
  const env = useServer();
  let repo: string;

  const pushed = () => push(repo, env.server.sshRemote('linky'), { sshCommand: env.key.sshCommand });
  const stillServes = async (body: string) => expect((await env.server.get('linky')).body.trim()).to.equal(body);

  before(async () => {
    expect(env.server.cli(['apps:create', 'linky']).code).to.equal(0);
    repo = appRepo('procfile-hello');
    setMessage(repo, 'linky v1');
    const r = await pushed();
    expect(r.code, r.stderr).to.equal(0);
    await stillServes('linky v1');
  });

  it('refuses an app.json the build made a link to /dev/zero, in one line; the daemon lives and v1 serves', async () => {
    addBuildpack(repo, 'link-bp', 'ln -sf /dev/zero "$1/app.json" && echo "linked app.json"');
    commitAll(repo, 'a build that links app.json to /dev/zero');
    const r = await pushed();
    expect(r.stderr).to.include('linked app.json');
    expect(r.stderr, r.stderr).to.match(/failed at \w+/);
    expect(r.stderr, r.stderr).to.match(/app\.json links outside the app \(to \/dev\/zero\); only files of the app are read/);
    await stillServes('linky v1');
    fs.rmSync(path.join(repo, 'link-bp'), { recursive: true });
    fs.rmSync(path.join(repo, '.buildpacks'));
    commitAll(repo, 'no more link-bp');
  });

  it("refuses an editable app's Procfile that links to /etc/shadow, and shows none of the host's file", async () => {
    expect(env.server.cli(['apps:create', 'linkdev', '--env', 'dev']).code).to.equal(0);
    const dev = appRepo('procfile-hello');
    // Git checks out any link in a work tree (the archive of the other modes refuses links that leave it).
    fs.rmSync(path.join(dev, 'Procfile'));
    fs.symlinkSync('/etc/shadow', path.join(dev, 'Procfile'));
    setMessage(dev, 'linkdev v1');
    const r = await push(dev, env.server.sshRemote('linkdev'), { sshCommand: env.key.sshCommand });
    expect(r.stderr, r.stderr).to.match(/Procfile links outside the app \(to \/etc\/shadow\)/);
    expect(r.stderr).to.not.match(/root:/);
    expect((await env.server.get('linkdev')).status).to.not.equal(200);
  });

  it('refuses a Procfile the build made a FIFO, without waiting on it; the next push deploys', async () => {
    addBuildpack(repo, 'fifo-bp', 'rm -f "$1/Procfile" && mkfifo "$1/Procfile" && echo "made a FIFO"');
    commitAll(repo, 'a build that leaves a FIFO for a Procfile');
    const r = await pushed();
    expect(r.stderr).to.include('made a FIFO');
    expect(r.stderr).to.match(/Procfile is a FIFO, not a file/);
    await stillServes('linky v1');

    // A link that stays inside the app is read as before.
    fs.rmSync(path.join(repo, 'fifo-bp'), { recursive: true });
    fs.rmSync(path.join(repo, '.buildpacks'));
    fs.mkdirSync(path.join(repo, 'config'));
    fs.renameSync(path.join(repo, 'Procfile'), path.join(repo, 'config', 'Procfile'));
    fs.symlinkSync('config/Procfile', path.join(repo, 'Procfile'));
    setMessage(repo, 'linky v2');
    const good = await pushed();
    expect(good.code, good.stderr).to.equal(0);
    await stillServes('linky v2');
  });
});
