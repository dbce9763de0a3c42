import { expect } from 'chai';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { appRepo, commitAll, push, setMessage, useServer, type Result } from './harness.js';

/** Whether anything accepts connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/**
 * A release whose second web instance cannot come up, on an app scaled to
 * web=2: whatever of it did start is stopped, and v1 keeps serving.
 */
describe('e2e: a release whose second web instance cannot start', function () {
  this.timeout(180_000);
  // The process driver refuses to spawn this one instance, as when a process cannot be started at all.
  const env = useServer({ env: { SLIPWAY_TEST_REFUSE_START: 'refused.v2.web.2' } });

  /** Deploys v1 scaled to web=2, then pushes v2 as `change` makes it; returns the v2 push. */
  async function deployTwice(app: string, change: (repo: string) => void): Promise<Result> {
    const { server, key } = env;
    expect(server.cli(['apps:create', app]).code).to.equal(0);
    const repo = appRepo('procfile-hello');
    setMessage(repo, `${app} v1`);
    const first = await push(repo, server.sshRemote(app), { sshCommand: key.sshCommand });
    expect(first.code, first.stderr).to.equal(0);
    const scaled = server.cli(['ps:scale', app, 'web=2']);
    expect(scaled.code, scaled.stderr).to.equal(0);
    change(repo);
    fs.writeFileSync(path.join(repo, 'message.txt'), `${app} v2\n`);
    commitAll(repo, 'v2');
    return push(repo, server.sshRemote(app), { sshCommand: key.sshCommand });
  }

  /** v2's web.1 is gone (ps, its port) and both v1 instances still serve. */
  async function onlyV1Left(app: string, r: Result): Promise<void> {
    const { server } = env;
    expect(r.stderr).to.include('v1 is still serving');
    const port = Number(/Started web\.1 on port (\d+)/.exec(r.stderr.split('Release v2')[1] ?? '')?.[1]);
    expect(port, `the port v2's web.1 started on, in:\n${r.stderr}`).to.be.greaterThan(0);
    const ps = server.cli(['ps', app]).stdout;
    const rows = ps
      .split('\n')
      .filter((l) => /^web\.\d/.test(l))
      .map((l) => l.trim().split(/\s+/).slice(0, 3).join(' '));
    expect(rows.sort(), ps).to.deep.equal(['web.1 up v1', 'web.2 up v1']);
    expect(await listening(port), `something listens on v2 web.1's port ${port}`).to.equal(false);
    for (let i = 0; i < 6; i++) expect((await server.get(app)).body.trim()).to.equal(`${app} v1`);
  }

  it('when web.2 cannot be spawned, the web.1 it started is stopped and v1 keeps serving', async () => {
    const r = await deployTwice('refused', () => undefined);
    expect(r.stderr, r.stderr).to.match(/failed at activate: cannot start refused\.v2\.web\.2/);
    await onlyV1Left('refused', r);
  });

  it('when web.2 exits at once, the web.1 it started is stopped and v1 keeps serving', async () => {
    // The driver names each instance in its DYNO variable: only web.2 of v2 gives up.
    const r = await deployTwice('exits', (repo) =>
      fs.writeFileSync(
        path.join(repo, 'Procfile'),
        'web: if [ "$DYNO" = web.2 ]; then echo "web.2 cannot open its socket" >&2; exit 1; fi; exec node server.js\n',
      ),
    );
    expect(r.stderr, r.stderr).to.match(/failed at activate: web\.2 exited with status 1 before it was healthy/);
    await onlyV1Left('exits', r);
  });
});
