import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SecretBox, isSealed } from '../../src/secrets/box.js';
import { Masker } from '../../src/secrets/masker.js';
import { Store } from '../../src/store/index.js';

const home = () => fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-secrets-'));

describe('secrets/box', () => {
  it('creates a 32-byte key file 0600 on first use and reuses it', () => {
    const dir = home();
    const box = SecretBox.forHome(dir);
    const file = path.join(dir, 'secret.key');
    expect(fs.statSync(file).mode & 0o777).to.equal(0o600);
    expect(fs.readFileSync(file)).to.have.length(32);
    const sealed = box.seal('app', 'K', 'value');
    expect(SecretBox.forHome(dir).open('app', 'K', sealed)).to.equal('value');
  });

  it('refuses a key file with a looser mode, or of the wrong size, with a clear line', () => {
    const dir = home();
    SecretBox.forHome(dir);
    const file = path.join(dir, 'secret.key');
    fs.chmodSync(file, 0o640);
    expect(() => SecretBox.forHome(dir)).to.throw(`${file} has mode 0640`);
    fs.chmodSync(file, 0o600);
    fs.writeFileSync(file, 'short');
    expect(() => SecretBox.forHome(dir)).to.throw('holds 5 bytes, not 32');
  });

  it('seals with a fresh IV each time; a value moved to another app or var, or tampered with, does not open', () => {
    const box = SecretBox.forHome(home());
    const a = box.seal('shop', 'API_KEY', 's3cr3t-value');
    const b = box.seal('shop', 'API_KEY', 's3cr3t-value');
    expect(a).to.not.equal(b);
    expect(isSealed(a)).to.equal(true);
    expect(a).to.not.include('s3cr3t');
    expect(box.open('shop', 'API_KEY', a)).to.equal('s3cr3t-value');
    expect(() => box.open('blog', 'API_KEY', a)).to.throw('cannot be opened');
    expect(() => box.open('shop', 'OTHER', a)).to.throw('cannot be opened');
    const parts = a.split(':');
    parts[parts.length - 1] = Buffer.from('tampered!!').toString('base64');
    expect(() => box.open('shop', 'API_KEY', parts.join(':'))).to.throw('cannot be opened');
    expect(() => SecretBox.forHome(home()).open('shop', 'API_KEY', a)).to.throw('another key');
  });

  it('remembers what it sealed or opened per app, for masking logs', () => {
    const box = SecretBox.forHome(home());
    box.seal('shop', 'A', 'alpha-secret');
    expect(box.masker('shop').mask('echo alpha-secret and more')).to.equal('echo ******** and more');
    expect(box.masker('blog').mask('alpha-secret')).to.equal('alpha-secret');
  });
});

describe('secrets/masker', () => {
  it('masks the longest value first and leaves values under 4 characters alone', () => {
    const m = new Masker();
    m.add('abcd');
    m.add('abcdefgh');
    m.add('on');
    expect(m.mask('x abcdefgh y abcd z on')).to.equal('x ******** y ******** z on');
    expect(JSON.stringify(m)).to.not.include('abcd');
  });
});

describe('store: sealed config values', () => {
  it('keeps the flag in config_vars and an object in release snapshots, and gives back sealed values', () => {
    const store = Store.open(':memory:');
    const box = SecretBox.forHome(home());
    const user = store.users.add('admin', 'admin');
    const app = store.apps.create({ name: 'shop', ownerId: user.id, env: 'staging', mode: 'cooking' });
    const sealed = box.seal('shop', 'TOKEN', 'tok-123456');
    store.apps.updateConfig(app.id, { TOKEN: sealed, PLAIN: 'p' });
    const row = store.db.prepare('SELECT value, secret FROM config_vars WHERE key = ?').get('TOKEN') as { value: string; secret: number };
    expect(row.secret).to.equal(1);
    expect(row.value).to.match(/^v1:/);
    expect(store.apps.config(app.id)).to.deep.equal({ PLAIN: 'p', TOKEN: sealed });
    expect(store.apps.secretKeys(app.id)).to.deep.equal(['TOKEN']);
    const job = store.jobs.create({
      appId: app.id,
      kind: 'push',
      mode: 'cooking',
      commit: null,
      userName: 'admin',
      params: {},
      logPath: () => '/dev/null',
    });
    const rel = store.releases.create({
      appId: app.id,
      kind: 'config',
      commit: null,
      author: 'admin',
      description: '',
      config: store.apps.config(app.id),
      jobId: job.id,
    });
    const raw = JSON.parse((store.db.prepare('SELECT config FROM releases WHERE id = ?').get(rel.id) as { config: string }).config);
    expect(raw.TOKEN.secret).to.match(/^v1:/);
    expect(store.releases.get(app.id, rel.version)!.config).to.deep.equal({ PLAIN: 'p', TOKEN: sealed });
    store.close();
  });
});
