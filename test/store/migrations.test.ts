import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDb } from '../../src/store/db.js';
import { migrations } from '../../src/store/migrations.js';

describe('store/migrations', () => {
  it('brings a new file to the latest user_version in WAL mode, and reopening is a no-op', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-db-')), 'slipway.db');
    const db = openDb(file);
    expect(db.pragma('user_version', { simple: true })).to.equal(migrations.length);
    expect(db.pragma('journal_mode', { simple: true })).to.equal('wal');
    db.prepare("INSERT INTO users (name, role, created_at) VALUES ('a', 'admin', 0)").run();
    db.close();
    const again = openDb(file);
    expect(again.prepare('SELECT name FROM users').all()).to.deep.equal([{ name: 'a' }]);
    expect(again.pragma('integrity_check', { simple: true })).to.equal('ok');
    again.close();
  });
});
