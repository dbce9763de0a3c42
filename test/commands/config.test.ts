import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { CommandContext, ServerSettings } from '../../src/commands/context.js';
import { runCommand } from '../../src/commands/program.js';
import { DEFAULT_EGRESS } from '../../src/egress/index.js';
import { Store, type App, type User } from '../../src/store/index.js';
import { Layout } from '../../src/store/layout.js';

/**
 * `config:set` on the server host with the daemon down: the host CLI runs
 * the command right on the store (cli/client.ts), with no queue to make a
 * release. It says why no release was made: the server is down, not that the
 * app has no archive.
 */
describe('config:set with the daemon down (slipway --local)', () => {
  let home: string;
  let store: Store;
  let admin: User;

  beforeEach(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-config-'));
    store = Store.open(path.join(home, 'slipway.db'));
    admin = store.users.add('admin', 'admin');
  });
  afterEach(() => {
    store.close();
    fs.rmSync(home, { recursive: true, force: true });
  });

  /** Runs the command as the host CLI does when no daemon answers: local, no platform. */
  async function local(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    let err = '';
    stdout.on('data', (d) => (out += d));
    stderr.on('data', (d) => (err += d));
    const ctx = {
      store,
      layout: new Layout(home),
      settings: { domain: 'example.test', egress: DEFAULT_EGRESS } as ServerSettings,
      user: admin,
      io: { stdin: new PassThrough(), stdout, stderr, tty: false },
      local: true,
    } as unknown as CommandContext;
    const code = await runCommand(ctx, argv);
    return { code, stdout: out, stderr: err };
  }

  /** An app with v1 live and its release archive on disk, as a push leaves it. */
  function liveApp(name: string): App {
    const app = store.apps.create({ name, ownerId: admin.id, env: 'staging', mode: 'cooking' });
    const job = store.jobs.create({
      appId: app.id,
      kind: 'push',
      mode: 'cooking',
      commit: null,
      userName: 'admin',
      params: {},
      logPath: () => '',
    });
    const release = store.releases.create({
      appId: app.id,
      kind: 'build',
      commit: null,
      author: 'admin',
      description: 'a push',
      config: {},
      jobId: job.id,
    });
    const archive = path.join(home, 'v1.tar.gz');
    fs.writeFileSync(archive, 'an archive');
    store.releases.update(release.id, { archivePath: archive });
    store.releases.finish(release.id, 'succeeded');
    store.apps.setCurrentRelease(app.id, release.version);
    return store.apps.byId(app.id)!;
  }

  it('an app with a live release: says the server is not running and how the change goes live; stores it, makes no release', async () => {
    const app = liveApp('shop');
    const r = await local(['config:set', 'shop', 'GREETING=hi']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include('Setting GREETING; the Slipway server is not running');
    expect(r.stdout).to.include('slipway deploy shop');
    expect(r.stdout).to.not.include('no live release archive');
    expect(store.apps.config(app.id)).to.deep.equal({ GREETING: 'hi' });
    expect(store.releases.list(app.id).map((x) => x.version)).to.deep.equal([1]);
  });

  it('an app never deployed: says it has no live release archive yet', async () => {
    const app = store.apps.create({ name: 'fresh', ownerId: admin.id, env: 'staging', mode: 'cooking' });
    const r = await local(['config:set', 'fresh', 'GREETING=hi']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include('fresh has no live release archive, so it applies on the next deploy');
    expect(store.apps.config(app.id)).to.deep.equal({ GREETING: 'hi' });
  });
});
