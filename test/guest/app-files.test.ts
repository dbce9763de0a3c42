import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readAppFile } from '../../src/guest/app-files.js';

describe('guest/app-files: the daemon reading a file an app controls', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-app-files-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const put = (name: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  };

  it('reads a regular file, and a link that stays inside the app; a missing file is undefined', () => {
    put('config/Procfile', 'web: node server.js\n');
    fs.symlinkSync('config/Procfile', path.join(dir, 'Procfile'));
    expect(readAppFile(dir, 'config/Procfile')).to.equal('web: node server.js\n');
    expect(readAppFile(dir, 'Procfile')).to.equal('web: node server.js\n');
    expect(readAppFile(dir, 'app.json')).to.equal(undefined);
  });

  it('refuses links out of the app, to a file, a device or through ../', () => {
    for (const target of ['/etc/hostname', '/dev/zero', '../../../etc/passwd']) {
      fs.rmSync(path.join(dir, 'app.json'), { force: true });
      fs.symlinkSync(target, path.join(dir, 'app.json'));
      expect(() => readAppFile(dir, 'app.json'), target).to.throw(
        /^app\.json links outside the app \(to \/.+\); only files of the app are read$/,
      );
    }
  });

  it('refuses a FIFO at once (no writer is waited for), a directory, and a file over the size', () => {
    expect(spawnSync('mkfifo', [path.join(dir, 'Procfile')]).status).to.equal(0);
    expect(() => readAppFile(dir, 'Procfile')).to.throw('Procfile is a FIFO, not a file');
    fs.mkdirSync(path.join(dir, 'app.json'));
    expect(() => readAppFile(dir, 'app.json')).to.throw('app.json is a directory, not a file');
    put('.buildpacks', 'x'.repeat(2000));
    expect(() => readAppFile(dir, '.buildpacks', 1000)).to.throw('.buildpacks has 2000 bytes; at most 1000 are read');
  });

  it('refuses a loop of links in one line', () => {
    fs.symlinkSync('b', path.join(dir, 'a'));
    fs.symlinkSync('a', path.join(dir, 'b'));
    expect(() => readAppFile(dir, 'a')).to.throw('a is a loop of symbolic links');
  });
});
