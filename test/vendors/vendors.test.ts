import { expect } from 'chai';
import crypto from 'node:crypto';
import { APP_NAME } from '../../src/auth/names.js';
import { Store } from '../../src/store/index.js';
import { HOOK_PROVIDERS, sameSecret } from '../../src/vendors/hooks.js';
import { checkVendorHost, parseSource, resolveSource, tokenEnv } from '../../src/vendors/kinds.js';
import { previewName } from '../../src/vendors/preview-name.js';

const hmac = (secret: string, raw: string) => `sha256=${crypto.createHmac('sha256', secret).update(raw).digest('hex')}`;
const SHA = 'a'.repeat(40);

describe('vendors: sources, signatures, preview names', () => {
  it('reads source values and refuses what could reach git as an option or carry a credential', () => {
    expect(parseSource('github:acme/shop#prod')).to.deep.equal({ vendor: 'github', path: 'acme/shop', branch: 'prod' });
    expect(parseSource('gitlab:group/sub/proj.git')).to.deep.equal({ vendor: 'gitlab', path: 'group/sub/proj', branch: 'main' });
    expect(parseSource('https://git.example.com/a/b.git#dev')).to.deep.equal({ url: 'https://git.example.com/a/b.git', branch: 'dev' });
    for (const bad of [
      'github:../x#main',
      'github:acme/shop#-x',
      'nosuch:acme/shop',
      'https://u:p@git.example.com/a.git',
      'ext::sh -c x',
      'github:acme',
    ])
      expect(() => parseSource(bad), bad).to.throw();
  });

  it('fetches with the first account whose vendor (or base URL) fits, never one of another host', () => {
    const account = (vendor: string, host: string) => ({ id: 1, userId: 1, vendor, host, username: '', token: 'sealed', createdAt: 0 });
    const gh = account('github', 'github.com');
    const self = account('gitlab', 'http://127.0.0.2:8080');
    expect(resolveSource(parseSource('github:acme/shop'), [self, gh])?.url).to.equal('https://github.com/acme/shop.git');
    expect(resolveSource(parseSource('http://127.0.0.2:8080/g/p.git'), [gh, self])?.account).to.equal(self);
    expect(resolveSource(parseSource('https://evil.example/g/p.git'), [gh, self])).to.equal(undefined);
    expect(checkVendorHost('http://127.0.0.2:8080/')).to.equal('http://127.0.0.2:8080');
    expect(checkVendorHost('GitHub.Example.com')).to.equal('github.example.com');
    expect(() => checkVendorHost('ftp://x')).to.throw();
  });

  it('hands the token to git in its environment, scoped to the base URL, never in the URL', () => {
    const env = tokenEnv(
      'http://127.0.0.2:8080/g/p.git',
      { id: 1, userId: 1, vendor: 'github', host: 'x', username: '', token: '', createdAt: 0 },
      'T0KEN',
    );
    expect(env.GIT_CONFIG_KEY_0).to.equal('http.http://127.0.0.2:8080/.extraHeader');
    expect(Buffer.from(env.GIT_CONFIG_VALUE_0!.replace('Authorization: Basic ', ''), 'base64').toString()).to.equal('x-access-token:T0KEN');
  });

  it('checks GitHub and Bitbucket HMACs over the raw bytes and GitLab tokens in constant time', () => {
    const raw = JSON.stringify({ ref: 'refs/heads/main', after: SHA });
    expect(HOOK_PROVIDERS.github.verify({ 'x-hub-signature-256': hmac('s', raw) }, Buffer.from(raw), 's')).to.equal(true);
    // The same object serialised differently is not what was signed.
    expect(HOOK_PROVIDERS.github.verify({ 'x-hub-signature-256': hmac('s', raw) }, Buffer.from(`${raw} `), 's')).to.equal(false);
    expect(HOOK_PROVIDERS.github.verify({}, Buffer.from(raw), 's')).to.equal(false);
    expect(HOOK_PROVIDERS.bitbucket.verify({ 'x-hub-signature': hmac('s', raw) }, Buffer.from(raw), 's')).to.equal(true);
    expect(HOOK_PROVIDERS.gitlab.verify({ 'x-gitlab-token': 's' }, Buffer.from(raw), 's')).to.equal(true);
    expect(HOOK_PROVIDERS.gitlab.verify({ 'x-gitlab-token': 'S' }, Buffer.from(raw), 's')).to.equal(false);
    expect(sameSecret('abc', 'abcd')).to.equal(false);
  });

  it('reads pushes, deletions and other events of each provider', () => {
    expect(HOOK_PROVIDERS.github.event({ 'x-github-event': 'push' }, { ref: 'refs/heads/f/x', after: SHA })).to.deep.equal({
      kind: 'push',
      branch: 'f/x',
      commit: SHA,
      deleted: false,
    });
    expect(HOOK_PROVIDERS.github.event({ 'x-github-event': 'ping' }, {}).kind).to.equal('ignored');
    expect(HOOK_PROVIDERS.github.event({ 'x-github-event': 'push' }, { ref: 'refs/tags/v1', after: SHA }).kind).to.equal('ignored');
    expect(
      HOOK_PROVIDERS.gitlab.event(
        { 'x-gitlab-event': 'Push Hook' },
        { object_kind: 'push', ref: 'refs/heads/main', after: '0'.repeat(40) },
      ),
    ).to.include({
      deleted: true,
    });
    const bb = { push: { changes: [{ new: { type: 'branch', name: 'main', target: { hash: SHA } }, old: null }] } };
    expect(HOOK_PROVIDERS.bitbucket.event({ 'x-event-key': 'repo:push' }, bb)).to.include({ branch: 'main', commit: SHA });
    expect(
      HOOK_PROVIDERS.bitbucket.event(
        { 'x-event-key': 'repo:push' },
        { push: { changes: [{ new: null, old: { type: 'branch', name: 'f' } }] } },
      ),
    ).to.include({
      deleted: true,
    });
    expect(HOOK_PROVIDERS.bitbucket.event({ 'x-event-key': 'pullrequest:created' }, bb).kind).to.equal('ignored');
    // Garbage never throws: it is ignored with a reason.
    for (const p of Object.values(HOOK_PROVIDERS)) expect(p.event({}, null).kind).to.equal('ignored');
  });

  it('reads pull requests of each provider as previews to make or remove, and ignores forks', () => {
    const same = { full_name: 'acme/shop' };
    const gh = (action: string, head = same) => ({
      action,
      pull_request: { head: { ref: 'f', sha: SHA, repo: head }, base: { repo: same } },
    });
    expect(HOOK_PROVIDERS.github.event({ 'x-github-event': 'pull_request' }, gh('synchronize'))).to.deep.equal({
      kind: 'pull',
      branch: 'f',
      commit: SHA,
      closed: false,
    });
    expect(HOOK_PROVIDERS.github.event({ 'x-github-event': 'pull_request' }, gh('closed'))).to.include({ closed: true });
    expect(HOOK_PROVIDERS.github.event({ 'x-github-event': 'pull_request' }, gh('opened', { full_name: 'eve/shop' })).kind).to.equal(
      'ignored',
    );
    expect(HOOK_PROVIDERS.github.event({ 'x-github-event': 'pull_request' }, gh('labeled')).kind).to.equal('ignored');
    const mr = {
      object_kind: 'merge_request',
      object_attributes: { action: 'merge', source_branch: 'f', source_project_id: 1, target_project_id: 1 },
    };
    expect(HOOK_PROVIDERS.gitlab.event({ 'x-gitlab-event': 'Merge Request Hook' }, mr)).to.include({ kind: 'pull', closed: true });
    const bb = {
      pullrequest: {
        source: { branch: { name: 'f' }, commit: { hash: 'abc123def456' }, repository: same },
        destination: { repository: same },
      },
    };
    expect(HOOK_PROVIDERS.bitbucket.event({ 'x-event-key': 'pullrequest:created' }, bb)).to.deep.equal({
      kind: 'pull',
      branch: 'f',
      commit: undefined,
      closed: false,
    });
  });

  it('makes preview names valid and distinct for branches that differ only in case, "/" or length', () => {
    const names = ['feature', 'Feature', 'feature/x', 'feature-x', 'feature.x', 'x'.repeat(200), `${'x'.repeat(199)}y`].map((b) =>
      previewName('shop', b),
    );
    expect(names[0]).to.equal('shop-pr-feature');
    expect(new Set(names).size).to.equal(names.length);
    for (const n of [...names, previewName('a'.repeat(63), 'main'), previewName('shop', '---')]) expect(n, n).to.match(APP_NAME);
  });

  it('stores accounts per user, ignores replayed deliveries and links previews to their parent', () => {
    const store = Store.open(':memory:');
    const u = store.users.add('alice', 'member');
    const parent = store.apps.create({ name: 'shop', ownerId: u.id, env: 'staging', mode: 'cooking' });
    const child = store.apps.create({ name: 'shop-pr-f', ownerId: u.id, env: 'dev', mode: 'cooking' });
    store.vendors.put({ userId: u.id, vendor: 'github', host: 'github.com', username: 'a', token: 'sealed1' });
    store.vendors.put({ userId: u.id, vendor: 'github', host: 'github.com', username: 'b', token: 'sealed2' });
    expect(store.vendors.list(u.id).map((a) => [a.username, a.token])).to.deep.equal([['b', 'sealed2']]);
    expect(store.hooks.firstDelivery(parent.id, 'd1')).to.equal(true);
    expect(store.hooks.firstDelivery(parent.id, 'd1')).to.equal(false);
    expect(store.hooks.firstDelivery(child.id, 'd1')).to.equal(true);
    store.previews.link(child.id, parent.id, 'f');
    expect(store.previews.forBranch(parent.id, 'f')?.appId).to.equal(child.id);
    expect(store.previews.pushedBefore(Date.now() + 1).map((l) => l.appId)).to.deep.equal([child.id]);
    store.apps.destroy(child.id);
    expect(store.previews.children(parent.id)).to.deep.equal([]);
    store.close();
  });
});
