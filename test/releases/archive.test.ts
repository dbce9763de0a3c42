import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import zlib from 'node:zlib';
import { createArchive, readMetadata, unpackArchive, writeMetadata } from '../../src/releases/archive.js';

const tmp = (p: string) => fs.mkdtempSync(path.join(os.tmpdir(), `slipway-${p}-`));

/** Builds a tar with GNU tar so hostile entries can be made exactly as an attacker would. */
function gnuTar(dir: string, out: string, args: string[]): void {
  const r = spawnSync('tar', ['-czf', out, '-C', dir, ...args]);
  if (r.status !== 0) throw new Error(String(r.stderr));
}

describe('releases/archive', () => {
  it('packs a directory into vN-<sha256>.tar.gz and unpacks it identically, metadata included', async () => {
    const src = tmp('src');
    fs.writeFileSync(path.join(src, 'Procfile'), 'web: node server.js\n');
    fs.mkdirSync(path.join(src, 'lib'));
    fs.writeFileSync(path.join(src, 'lib', 'a.js'), 'x');
    fs.symlinkSync('lib/a.js', path.join(src, 'link.js'));
    fs.symlinkSync('/somewhere', path.join(src, 'data'));
    await writeMetadata(src, {
      format: 1,
      app: 'a',
      version: 3,
      commit: 'abc',
      buildpacks: [],
      processTypes: { web: 'node server.js' },
      configVars: {},
      createdAt: 'now',
    });
    const info = await createArchive({ dir: src, destDir: tmp('dest'), version: 3, exclude: ['data'] });
    expect(path.basename(info.path)).to.equal(`v3-${info.sha256}.tar.gz`);
    const out = tmp('out');
    await unpackArchive({ archive: info.path, dest: out, sha256: info.sha256 });
    expect(fs.readFileSync(path.join(out, 'Procfile'), 'utf8')).to.equal('web: node server.js\n');
    expect(fs.readlinkSync(path.join(out, 'link.js'))).to.equal('lib/a.js');
    expect(fs.existsSync(path.join(out, 'data'))).to.equal(false);
    expect((await readMetadata(out))?.version).to.equal(3);
  });

  it('refuses a wrong sha256 before writing anything', async () => {
    const src = tmp('src');
    fs.writeFileSync(path.join(src, 'f'), 'x');
    const info = await createArchive({ dir: src, destDir: tmp('dest'), version: 1 });
    const out = path.join(tmp('out'), 'x');
    try {
      await unpackArchive({ archive: info.path, dest: out, sha256: '0'.repeat(64) });
      expect.fail('should refuse');
    } catch (err) {
      expect((err as Error).message).to.match(/sha256 mismatch/);
    }
    expect(fs.existsSync(out)).to.equal(false);
  });

  const hostile: Array<[string, (dir: string, file: string) => void, RegExp]> = [
    [
      'a ../ entry',
      (dir, file) => {
        fs.mkdirSync(path.join(dir, 'sub'));
        fs.writeFileSync(path.join(dir, 'evil'), 'x');
        gnuTar(path.join(dir, 'sub'), file, ['-P', '../evil']);
      },
      /points outside/,
    ],
    [
      'an absolute path',
      (dir, file) => {
        fs.writeFileSync(path.join(dir, 'evil'), 'x');
        gnuTar(dir, file, ['-P', path.join(dir, 'evil')]);
      },
      /points outside/,
    ],
    [
      'a symlink pointing outside',
      (dir, file) => {
        fs.symlinkSync('../../etc/passwd', path.join(dir, 'link'));
        gnuTar(dir, file, ['link']);
      },
      /symlink .* points outside/,
    ],
    [
      'an absolute symlink',
      (dir, file) => {
        fs.symlinkSync('/etc/passwd', path.join(dir, 'link'));
        gnuTar(dir, file, ['link']);
      },
      /symlink .* points outside/,
    ],
    [
      'a chain of symlinks that leaves the tree',
      (dir, file) => {
        fs.mkdirSync(path.join(dir, 'b'));
        fs.symlinkSync('b/..', path.join(dir, 'a'));
        fs.symlinkSync('a/..', path.join(dir, 'c'));
        gnuTar(dir, file, ['b', 'a', 'c']);
      },
      /leads outside the app directory through the archive's own symlinks/,
    ],
    ['a body that is not gzip', (_dir, file) => fs.writeFileSync(file, 'this is not an archive'), /not a valid .tar.gz/],
    [
      'a gzip that is not tar',
      (_dir, file) => fs.writeFileSync(file, zlib.gzipSync(Buffer.from('plain text, not tar'))),
      /not a valid .tar.gz/,
    ],
  ];
  for (const [what, make, message] of hostile) {
    it(`refuses ${what}, writing nothing`, async () => {
      const work = tmp('hostile');
      const file = path.join(tmp('file'), 'a.tar.gz');
      make(work, file);
      const out = path.join(tmp('out'), 'dest');
      try {
        await unpackArchive({ archive: file, dest: out });
        expect.fail('should refuse');
      } catch (err) {
        expect((err as Error).message).to.match(message);
      }
      expect(fs.existsSync(out)).to.equal(false);
    });
  }

  it('refuses an archive that unpacks past the size limit', async () => {
    const src = tmp('src');
    fs.writeFileSync(path.join(src, 'big'), Buffer.alloc(200_000));
    const info = await createArchive({ dir: src, destDir: tmp('dest'), version: 1 });
    try {
      await unpackArchive({ archive: info.path, dest: path.join(tmp('out'), 'x'), maxBytes: 100_000 });
      expect.fail('should refuse');
    } catch (err) {
      expect((err as Error).message).to.match(/more than 100000 bytes/);
    }
  });
});
