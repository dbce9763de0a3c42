import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { CommandContext, ServerSettings } from '../../src/commands/context.js';
import { runCommand } from '../../src/commands/program.js';
import { DEFAULT_EGRESS } from '../../src/egress/index.js';
import type { DeployContext } from '../../src/pipeline/context.js';
import { fetchProvider } from '../../src/pipeline/provider-fetch.js';
import { Store, type User } from '../../src/store/index.js';
import { Layout } from '../../src/store/layout.js';

/**
 * A vendor token is its user's alone: a collaborator may not point the app's
 * source at the owner's private repositories, and the owner's deploy never
 * borrows a collaborator's token.
 */
describe('vendors: whose token fetches an app source', () => {
  let home: string;
  let store: Store;
  let alice: User;
  let bob: User;

  beforeEach(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-source-'));
    store = Store.open(path.join(home, 'slipway.db'));
    store.users.add('root', 'admin');
    alice = store.users.add('alice', 'member');
    bob = store.users.add('bob', 'member');
    const app = store.apps.create({ name: 'shop', ownerId: alice.id, env: 'staging', mode: 'cooking' });
    store.collaborators.add(app.id, bob.id, 'alice');
  });
  afterEach(() => {
    store.close();
    fs.rmSync(home, { recursive: true, force: true });
  });

  async function as(user: User, argv: string[]): Promise<{ code: number; stderr: string }> {
    const stderr = new PassThrough();
    let err = '';
    stderr.on('data', (d) => (err += d));
    const ctx = {
      store,
      layout: new Layout(home),
      settings: { domain: 'example.test', egress: DEFAULT_EGRESS } as ServerSettings,
      user,
      io: { stdin: new PassThrough(), stdout: new PassThrough(), stderr, tty: false },
      local: true,
    } as unknown as CommandContext;
    return { code: await runCommand(ctx, argv), stderr: err };
  }

  it('lets only the owner (or an admin) set source, which names the repository their token fetches', async () => {
    const refused = await as(bob, ['apps:set', 'shop', 'source=github:alice/private#main']);
    expect(refused.code).to.not.equal(0);
    expect(refused.stderr).to.match(/only the owner of shop/);
    expect(store.apps.byName('shop')!.settings.source).to.equal(undefined);
    expect((await as(alice, ['apps:set', 'shop', 'source=github:alice/private#main'])).code).to.equal(0);
  });

  it("never fetches with a collaborator's vendor account", async () => {
    store.vendors.put({ userId: bob.id, vendor: 'github', host: 'github.com', username: '', token: 'sealed' });
    const app = store.apps.byName('shop')!;
    const ctx = { services: { store, layout: new Layout(home), settings: {} }, app } as unknown as DeployContext;
    let error: unknown;
    await fetchProvider(ctx, { kind: 'provider', source: 'github:bob/private#main' }).catch((e) => (error = e));
    expect(String((error as Error)?.message)).to.match(/github: alice, the owner of shop, has no vendor account/);
  });
});
