import { expect } from 'chai';
import { LiveSessions, endedLine, type Principal } from '../../src/auth/sessions.js';
import { hashToken } from '../../src/auth/tokens.js';
import { Store, type App, type User } from '../../src/store/index.js';

/** The registry runs its recheck once the current tick's changes are done. */
const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('auth/sessions: live sessions end when their access goes', () => {
  let store: Store;
  let sessions: LiveSessions;
  let alice: User;
  let bob: User;
  let shop: App;
  let blog: App;
  let ended: Map<string, string>;
  const open = (name: string, principal: Principal, apps: string[] = []) => {
    const s = sessions.open(principal, (reason) => {
      expect(ended.has(name), `${name} ended twice`).to.equal(false);
      ended.set(name, reason);
    });
    for (const a of apps) s.useApp(a);
    return s;
  };

  beforeEach(() => {
    store = Store.open(':memory:');
    sessions = new LiveSessions(store, () => undefined);
    ended = new Map();
    alice = store.users.add('alice', 'member');
    bob = store.users.add('bob', 'member');
    shop = store.apps.create({ name: 'shop', ownerId: alice.id, env: 'staging', mode: 'cooking' });
    blog = store.apps.create({ name: 'blog', ownerId: alice.id, env: 'staging', mode: 'cooking' });
    store.collaborators.add(shop.id, bob.id, 'alice');
    store.collaborators.add(blog.id, bob.id, 'alice');
    store.users.addKey(bob.id, 'SHA256:bob-laptop', 'ssh-ed25519 AAAA', 'laptop');
    store.users.addKey(bob.id, 'SHA256:bob-desk', 'ssh-ed25519 BBBB', 'desk');
    store.users.addToken(bob.id, 'ci', hashToken('slp_ci'));
    store.users.addToken(bob.id, 'cli', hashToken('slp_cli'));
  });
  afterEach(() => store.close());

  it('removing a collaborator ends their sessions on that app only, with the reason', async () => {
    open('bob-shop-ssh', { userId: bob.id, keyFingerprint: 'SHA256:bob-laptop' }, ['shop']);
    open('bob-shop-api', { userId: bob.id, tokenHash: hashToken('slp_ci') }, ['shop']);
    open('bob-blog', { userId: bob.id, keyFingerprint: 'SHA256:bob-laptop' }, ['blog']);
    open('bob-connection', { userId: bob.id, keyFingerprint: 'SHA256:bob-laptop' });
    open('alice-shop', { userId: alice.id }, ['shop']);
    store.collaborators.remove(shop.id, bob.id);
    await settled();
    expect(Object.fromEntries(ended)).to.deep.equal({
      'bob-shop-ssh': 'your access to shop was removed',
      'bob-shop-api': 'your access to shop was removed',
    });
    expect(sessions.size).to.equal(3);
  });

  it("removing a key ends that key's sessions only; revoking a token, that token's", async () => {
    open('laptop', { userId: bob.id, keyFingerprint: 'SHA256:bob-laptop' }, ['shop']);
    open('laptop-conn', { userId: bob.id, keyFingerprint: 'SHA256:bob-laptop' });
    open('desk', { userId: bob.id, keyFingerprint: 'SHA256:bob-desk' }, ['shop']);
    open('ci', { userId: bob.id, tokenHash: hashToken('slp_ci') }, ['shop']);
    open('cli', { userId: bob.id, tokenHash: hashToken('slp_cli') });
    store.users.removeKey(store.users.keyByFingerprint('SHA256:bob-laptop')!.id);
    await settled();
    expect(Object.fromEntries(ended)).to.deep.equal({ laptop: 'your SSH key was removed', 'laptop-conn': 'your SSH key was removed' });
    store.users.revokeToken(store.users.tokens(bob.id).find((t) => t.name === 'ci')!.id);
    await settled();
    expect(ended.get('ci')).to.equal('your API token was revoked');
    expect([...ended.keys()].sort()).to.deep.equal(['ci', 'laptop', 'laptop-conn']);
  });

  it("removing a user ends all of theirs, and no one else's", async () => {
    open('bob-ssh', { userId: bob.id, keyFingerprint: 'SHA256:bob-desk' }, ['blog']);
    open('bob-api', { userId: bob.id, tokenHash: hashToken('slp_cli') });
    open('alice', { userId: alice.id }, ['shop', 'blog']);
    store.users.remove(bob.id);
    await settled();
    expect(Object.fromEntries(ended)).to.deep.equal({
      'bob-ssh': 'your user account was removed',
      'bob-api': 'your user account was removed',
    });
    expect(sessions.size).to.equal(1);
  });

  it('a transfer that keeps the old owner as a collaborator ends nothing; destroying the app ends its sessions', async () => {
    open('alice-shop', { userId: alice.id }, ['shop']);
    store.apps.transfer(shop.id, bob.id);
    store.collaborators.add(shop.id, alice.id, 'alice');
    await settled();
    expect(ended.size).to.equal(0);
    store.apps.destroy(shop.id);
    await settled();
    expect(Object.fromEntries(ended)).to.deep.equal({ 'alice-shop': 'shop was destroyed' });
  });

  it('a session tied to an app it has already lost ends at once; a closed session is never ended', async () => {
    store.collaborators.remove(blog.id, bob.id);
    await settled();
    const late = open('late', { userId: bob.id }, []);
    late.useApp('blog');
    expect(ended.get('late')).to.equal('your access to blog was removed');
    const closed = open('closed', { userId: bob.id }, ['shop']);
    closed.close();
    store.collaborators.remove(shop.id, bob.id);
    await settled();
    expect(ended.has('closed')).to.equal(false);
    expect(sessions.size).to.equal(0);
  });

  it('says why in one line', () => {
    expect(endedLine('your access to myapp was removed')).to.equal(' !     your access to myapp was removed; this session is closed\n');
  });
});
