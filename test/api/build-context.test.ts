import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { checkBuildContext, openBuildContext } from '../../src/api/build-context.js';
import { SlipwayError } from '../../src/errors.js';
import { tmpdir } from '../e2e/harness.js';

/** A zip written by Python's zipfile; `link` entries get a symlink's mode bits, as `zip -y` stores them. */
function zip(entries: Array<{ name: string; text?: string; link?: boolean }>): string {
  const file = path.join(tmpdir('ctx-zip'), 'context.zip');
  const program = [
    'import json, sys, zipfile',
    'with zipfile.ZipFile(sys.argv[1], "w") as z:',
    '    for e in json.loads(sys.argv[2]):',
    '        info = zipfile.ZipInfo(e["name"])',
    '        if e.get("link"): info.external_attr = 0o120777 << 16',
    '        z.writestr(info, e.get("text", ""))',
  ].join('\n');
  const r = spawnSync('python3', ['-c', program, file, JSON.stringify(entries)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`zip failed: ${r.stderr}`);
  return file;
}

async function refusal(file: string, format: 'zip' | 'gzip'): Promise<SlipwayError> {
  const err = await checkBuildContext(file, format).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected a refusal').to.be.instanceOf(SlipwayError);
  return err as SlipwayError;
}

describe('api: build contexts (uploaded .zip and .tar.gz with a Dockerfile)', () => {
  it('accepts a zip with a Dockerfile at its root and unpacks it into a tar stream', async () => {
    const file = zip([
      { name: 'Dockerfile', text: 'FROM scratch\n' },
      { name: 'app/main.txt', text: 'hi\n' },
    ]);
    await checkBuildContext(file, 'zip');
    const work = path.join(tmpdir('ctx-work'), 'unpacked');
    const opened = await openBuildContext(file, 'zip', work);
    const out = tmpdir('ctx-out');
    const tarFile = path.join(tmpdir('ctx-tar'), 'context.tar');
    await pipeline(opened.stream, fs.createWriteStream(tarFile));
    await tar.extract({ file: tarFile, cwd: out });
    expect(fs.readFileSync(path.join(out, 'Dockerfile'), 'utf8')).to.equal('FROM scratch\n');
    expect(fs.readFileSync(path.join(out, 'app', 'main.txt'), 'utf8')).to.equal('hi\n');
    await opened.cleanup();
    expect(fs.existsSync(work)).to.equal(false);
  });

  it('refuses zip entries that leave the context: .., absolute and drive paths, symlinks', async () => {
    for (const name of ['../evil', 'a/../../evil', '/etc/evil', 'C:\\evil', '..\\evil']) {
      const err = await refusal(
        zip([
          { name: 'Dockerfile', text: 'FROM scratch\n' },
          { name, text: 'x' },
        ]),
        'zip',
      );
      expect(err.status, name).to.equal(400);
      expect(err.message, name).to.include('outside the build context');
      expect(err.hint).to.include('zip -r');
    }
    const link = await refusal(
      zip([
        { name: 'Dockerfile', text: 'FROM scratch\n' },
        { name: 'etc', text: '/etc', link: true },
      ]),
      'zip',
    );
    expect(link.status).to.equal(400);
    expect(link.message).to.include('symbolic link');
  });

  it('refuses a file that is not a zip, and a context without a root Dockerfile, naming where it is', async () => {
    const bogus = path.join(tmpdir('ctx-bogus'), 'x.zip');
    fs.writeFileSync(bogus, 'PK but not really a zip');
    expect((await refusal(bogus, 'zip')).message).to.include('not a valid .zip');
    const nested = await refusal(zip([{ name: 'site/Dockerfile', text: 'FROM scratch\n' }]), 'zip');
    expect(nested.status).to.equal(422);
    expect(nested.hint).to.include('site/');
  });

  it('refuses a tarball whose symlink points out of the context', async () => {
    const dir = tmpdir('ctx-tar');
    fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\n');
    fs.symlinkSync('/etc/passwd', path.join(dir, 'passwd'));
    const file = path.join(tmpdir('ctx-tgz'), 'c.tgz');
    expect(spawnSync('tar', ['-czf', file, '-C', dir, '.']).status).to.equal(0);
    const err = await refusal(file, 'gzip');
    expect(err.status).to.equal(400);
    expect(err.message).to.include('outside the build context');
  });
});
