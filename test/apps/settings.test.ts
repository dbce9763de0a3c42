import { expect } from 'chai';
import { PassThrough } from 'node:stream';
import { SETTINGS, USER_SETTINGS, checkSetting, settingText, settingsOf, writeSetting } from '../../src/apps/settings.js';
import type { CommandContext, ServerSettings } from '../../src/commands/context.js';
import { runCommand } from '../../src/commands/program.js';
import { DEFAULT_EGRESS } from '../../src/egress/index.js';
import { checkConfigChange } from '../../src/pipeline/buildpack-egress.js';
import { SlipwayError } from '../../src/errors.js';
import { Store, type App, type User } from '../../src/store/index.js';
import { Layout } from '../../src/store/layout.js';

const SERVER = { domain: 'example.test', egress: DEFAULT_EGRESS } as ServerSettings;

/** Runs a real command as `user` on `store`: what `slipway …`, ssh and the API's CLI route all go through. */
async function run(store: Store, user: User, argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const ctx = {
    store,
    layout: new Layout('/nonexistent'),
    settings: SERVER,
    user,
    io: { stdin: new PassThrough(), stdout, stderr, tty: false },
    local: false,
  } as unknown as CommandContext;
  const code = await runCommand(ctx, argv);
  return { code, stdout: out, stderr: err };
}

/** The error `checkSetting` throws, as a user reads it. */
function refusal(key: Parameters<typeof checkSetting>[0], value: string, admin = false): { code: string; message: string; hint?: string } {
  try {
    checkSetting(key, value, { admin, settings: DEFAULT_EGRESS });
  } catch (err) {
    expect(err).to.be.instanceOf(SlipwayError);
    const e = err as SlipwayError;
    return { code: e.code, message: e.message, hint: e.hint };
  }
  throw new Error(`${key}=${value} was accepted`);
}

describe('apps/settings', () => {
  let store: Store;
  let admin: User;
  let member: User;
  const fresh = (name: string): App => store.apps.byName(name)!;

  beforeEach(() => {
    store = Store.open(':memory:');
    admin = store.users.add('root', 'admin');
    member = store.users.add('alice', 'member');
    store.apps.create({ name: 'shop', ownerId: member.id, env: 'staging', mode: 'cooking' });
    store.apps.create({ name: 'dev', ownerId: member.id, env: 'dev', mode: 'editable' });
  });
  afterEach(() => store.close());

  it('reads an app with no settings as the defaults, typed', () => {
    const s = settingsOf(fresh('shop'));
    expect(s.get('deploy_branch')).to.equal('main');
    expect(s.get('mode')).to.equal('cooking');
    expect(s.get('push.atomic')).to.equal(false);
    expect(s.get('stopped')).to.equal(false);
    expect(s.get('artifact_urls')).to.deep.equal([]);
    // Unset: the server's --driver, default and --keep-releases apply.
    expect(s.get('driver')).to.equal(undefined);
    expect(s.get('backups.keep')).to.equal(undefined);
    expect(s.get('releases.keep')).to.equal(undefined);
    expect(s.get('upstream')).to.equal(undefined);
    expect(s.get('origin')).to.equal(undefined);
    expect(s.get('buildpack_url')).to.equal(undefined);
  });

  it('reads what apps:set stored as booleans, numbers, lists and driver names', async () => {
    const r = await run(store, member, [
      'apps:set',
      'shop',
      'push.atomic=true',
      'backups.keep=07',
      'releases.keep=3',
      'driver=docker',
      'artifact_urls=https://ci.example/a.tgz, https://ci.example/b.tgz',
      'deploy_branch=release/1',
    ]);
    expect(r.stderr).to.equal('');
    expect(r.code).to.equal(0);
    const s = settingsOf(fresh('shop'));
    expect(s.get('push.atomic')).to.equal(true);
    expect(s.get('backups.keep')).to.equal(7);
    expect(s.get('releases.keep')).to.equal(3);
    expect(s.get('driver')).to.equal('docker');
    expect(s.get('artifact_urls')).to.deep.equal(['https://ci.example/a.tgz', 'https://ci.example/b.tgz']);
    expect(s.get('deploy_branch')).to.equal('release/1');
    // The stored text is what it always was: the settings object and the deploy_branch column.
    expect(fresh('shop').settings).to.deep.equal({
      'push.atomic': 'true',
      'backups.keep': '7',
      'releases.keep': '3',
      driver: 'docker',
      artifact_urls: 'https://ci.example/a.tgz, https://ci.example/b.tgz',
    });
    expect(fresh('shop').deployBranch).to.equal('release/1');
    expect(r.stdout).to.include('-----> shop: backups.keep = 7\n').and.include('-----> shop: push.atomic = true\n');
  });

  it('resets a setting to its default with `key=`, columns included', async () => {
    await run(store, member, ['apps:set', 'dev', 'mode=final', 'deploy_branch=trunk', 'push.atomic=true']);
    expect(fresh('dev').mode).to.equal('final');
    const r = await run(store, member, ['apps:set', 'dev', 'mode=', 'deploy_branch=', 'push.atomic=']);
    expect(r.stdout).to.equal(
      '-----> dev: mode reset to its default\n-----> dev: deploy_branch reset to its default\n-----> dev: push.atomic reset to its default\n',
    );
    // A dev app's mode goes back to its environment's, not to a fixed value.
    expect(settingsOf(fresh('dev')).get('mode')).to.equal('editable');
    expect(settingsOf(fresh('dev')).get('deploy_branch')).to.equal('main');
    expect(fresh('dev').settings).to.not.have.property('push.atomic');
  });

  it('refuses bad values with one line saying what is allowed', () => {
    expect(refusal('backups.keep', '0')).to.deep.equal({
      code: 'invalid',
      message: 'backups.keep must be a whole number from 1 to 100, not "0"',
      hint: undefined,
    });
    expect(refusal('releases.keep', '1').message).to.equal('releases.keep must be a whole number from 2 to 100, not "1"');
    expect(refusal('releases.keep', '101').message).to.equal('releases.keep must be a whole number from 2 to 100, not "101"');
    expect(refusal('push.atomic', 'yes').message).to.equal('push.atomic is true or false');
    expect(refusal('mode', 'prod')).to.deep.equal({
      code: 'invalid',
      message: 'unknown mode "prod"',
      hint: 'use editable, cooking or final',
    });
    expect(refusal('driver', 'k8s')).to.deep.equal({
      code: 'invalid',
      message: 'unknown driver "k8s"',
      hint: 'use process, docker or swarm',
    });
    expect(refusal('placement', 'node.labels.env==prod,$(reboot)').message).to.equal('"$(reboot)" is not a placement constraint');
    expect(refusal('deploy_branch', 'a..b').message).to.equal('"a..b" is not a valid branch name');
    expect(refusal('deploy_branch', '-x').message).to.equal('"-x" is not a valid branch name');
    expect(refusal('upstream', 'Not_An_App').message).to.equal('invalid app name "Not_An_App"');
    expect(refusal('origin', 'not a url').message).to.equal('"not a url" is not a URL');
    expect(refusal('origin', 'ftp://host/x.git').message).to.equal('"ftp://host/x.git" is not an http, https, ssh, git or file URL');
    expect(refusal('buildpack_url', 'two words').message).to.equal('a buildpack URL is one word of at most 500 characters');
    for (const r of [refusal('backups.keep', 'x'), refusal('origin', 'not a url')]) expect(r.message).to.not.include('\n');
  });

  it('lets anyone who may use the app set it, and only an admin give file URLs and host paths', async () => {
    const local = 'file:///srv/git/shop.git';
    const denied = await run(store, member, ['apps:set', 'dev', `origin=${local}`]);
    expect(denied.code).to.equal(1);
    expect(denied.stderr).to.equal(
      ' !     origin: file:///srv/git/shop.git names a file or directory on the server; only an admin may set file URLs and host paths (use an http(s) URL (git or ssh for a repository), or ask an admin of this Slipway server to set it)\n',
    );
    expect(refusal('buildpack_url', '/opt/buildpacks/ruby').code).to.equal('egress_refused');
    expect(refusal('artifact_urls', 'file:///srv/a.tgz').code).to.equal('egress_refused');
    expect(() => checkSetting('artifact_urls', 'file:///srv/a.tgz', { admin: true, settings: DEFAULT_EGRESS })).to.not.throw();

    expect((await run(store, admin, ['apps:set', 'dev', `origin=${local}`])).code).to.equal(0);
    expect(settingsOf(fresh('dev')).get('origin')).to.equal(local);
    expect(settingsOf(fresh('dev')).setByAdmin('origin')).to.equal(true);
    // The member may still use the app's other settings, and an http origin of their own.
    expect((await run(store, member, ['apps:set', 'dev', 'origin=https://git.example/shop.git'])).code).to.equal(0);
    expect(settingsOf(fresh('dev')).setByAdmin('origin')).to.equal(false);
    // Setting the admin's value again as a member does not inherit the admin's trust.
    writeSetting(store, fresh('dev'), 'origin', local, { admin: false });
    expect(settingsOf(fresh('dev')).setByAdmin('origin')).to.equal(false);
  });

  it("records an admin's host-path BUILDPACK_URL config var as theirs, and a member's change of it never", () => {
    const change = (value: string, admin: boolean) =>
      checkConfigChange(store, fresh('dev'), { set: { BUILDPACK_URL: value }, unset: [], secret: [] }, { admin, settings: DEFAULT_EGRESS });
    change('/opt/buildpacks/ruby', true);
    expect(settingsOf(fresh('dev')).configSetByAdmin('BUILDPACK_URL', '/opt/buildpacks/ruby')).to.equal(true);
    expect(settingsOf(fresh('dev')).configSetByAdmin('BUILDPACK_URL', '/opt/buildpacks/other')).to.equal(false);
    change('https://github.com/heroku/heroku-buildpack-ruby.git', false);
    expect(settingsOf(fresh('dev')).configSetByAdmin('BUILDPACK_URL', '/opt/buildpacks/ruby')).to.equal(false);
  });

  it('refuses a user who may not use the app, and an upstream they may not use', async () => {
    const bob = store.users.add('bob', 'member');
    expect((await run(store, bob, ['apps:set', 'shop', 'push.atomic=true'])).code).to.equal(1);
    store.apps.create({ name: 'bobs', ownerId: bob.id, env: 'staging', mode: 'cooking' });
    const r = await run(store, member, ['apps:set', 'shop', 'push.atomic=true', 'upstream=bobs']);
    expect(r.code).to.equal(1);
    // Nothing of the batch is stored when one part is refused.
    expect(settingsOf(fresh('shop')).get('push.atomic')).to.equal(false);
    expect(settingsOf(fresh('shop')).get('upstream')).to.equal(undefined);
  });

  it("knows only the user settings by name: Slipway's own and unknown keys are refused, and nothing is stored", async () => {
    expect(USER_SETTINGS).to.deep.equal([
      'deploy_branch',
      'buildpack_url',
      'mode',
      'upstream',
      'origin',
      'push.atomic',
      'artifact_urls',
      'driver',
      'placement',
      'tls',
      'tls.redirect',
      'tls.hsts',
      'source',
      'previews',
      'previews.ttl',
      'previews.exclude',
      'backups.keep',
      'releases.keep',
    ]);
    expect(SETTINGS.stopped.who).to.equal('slipway');
    for (const key of ['stopped', 'constructor', 'nope']) {
      const r = await run(store, member, ['apps:set', 'shop', `${key}=true`, 'push.atomic=true']);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal(` !     unknown setting "${key}" (settings are: ${USER_SETTINGS.join(', ')}; write them as key=value)\n`);
    }
    expect((await run(store, member, ['apps:set', 'shop', 'push.atomic'])).stderr).to.include('unknown setting "push.atomic"');
    expect(fresh('shop').settings).to.deep.equal({});
    expect(() => checkSetting('stopped', 'true', { admin: true, settings: DEFAULT_EGRESS })).to.throw(
      SlipwayError,
      'stopped is set by Slipway itself',
    );
  });

  it("apps:get prints the stored text of the user settings, never Slipway's own", async () => {
    writeSetting(store, fresh('shop'), 'stopped', 'true');
    await run(store, member, ['apps:set', 'shop', 'releases.keep=4']);
    const all = await run(store, member, ['apps:get', 'shop']);
    expect(all.stdout.split('\n')).to.include.members(['deploy_branch  main', 'mode           cooking', 'releases.keep  4', 'push.atomic']);
    expect(all.stdout).to.not.include('stopped');
    expect((await run(store, member, ['apps:get', 'shop', 'releases.keep'])).stdout).to.equal('4\n');
    expect((await run(store, member, ['apps:get', 'shop', 'stopped'])).stderr).to.equal(
      ` !     unknown setting "stopped" (settings are: ${USER_SETTINGS.join(', ')})\n`,
    );
    expect(settingsOf(fresh('shop')).get('stopped')).to.equal(true);
    expect(settingText(fresh('shop'), 'mode')).to.equal('cooking');
  });

  it('reads stored text it cannot use as unset, so the default applies', () => {
    for (const [key, text] of [
      ['backups.keep', 'lots'],
      ['driver', 'k8s'],
      ['push.atomic', 'yes'],
    ] as const)
      store.apps.setSetting(fresh('shop').id, key, text);
    const s = settingsOf(fresh('shop'));
    expect(s.get('backups.keep')).to.equal(undefined);
    expect(s.get('driver')).to.equal(undefined);
    expect(s.get('push.atomic')).to.equal(false);
  });
});
