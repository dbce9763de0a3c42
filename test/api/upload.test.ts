import { expect } from 'chai';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { checkUploadedArchive } from '../../src/api/archive-check.js';
import { tokenFrom } from '../../src/api/auth.js';
import { parseSha256, parseVersion } from '../../src/api/params.js';
import { checkMediaType, receiveUpload } from '../../src/api/upload.js';
import { SlipwayError } from '../../src/errors.js';

const tmp = (p: string) => fs.mkdtempSync(path.join(os.tmpdir(), `slipway-${p}-`));
const gz = (s: string) => zlib.gzipSync(Buffer.from(s));
const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

async function refusal(p: Promise<unknown>): Promise<SlipwayError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(SlipwayError);
    return err as SlipwayError;
  }
  throw new Error('expected a refusal');
}

function tarDir(files: Record<string, string>, args = ['.']): string {
  const dir = tmp('src');
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  const file = path.join(tmp('tgz'), 'a.tgz');
  const r = spawnSync('tar', ['-czf', file, '-C', dir, ...args]);
  if (r.status !== 0) throw new Error(String(r.stderr));
  return file;
}

describe('api/upload', () => {
  it('streams a body to a file in the given directory and hashes it', async () => {
    const dir = tmp('uploads');
    const body = gz('hello');
    const up = await receiveUpload(Readable.from([body.subarray(0, 1), body.subarray(1)]), {
      dir,
      prefix: 'artifact',
      maxBytes: 1000,
      sha256: sha(body),
    });
    expect(path.dirname(up.file)).to.equal(dir);
    expect(path.basename(up.file)).to.match(/^artifact-.*\.tar\.gz$/);
    expect(fs.readFileSync(up.file).equals(body)).to.equal(true);
    expect(up).to.include({ sha256: sha(body), size: body.length });
    expect(fs.statSync(up.file).mode & 0o777).to.equal(0o600);
  });

  const refusals: Array<[string, () => Readable, number, RegExp, string?]> = [
    ['a sha256 mismatch', () => Readable.from([gz('x')]), 422, /sha256 is [0-9a-f]{64}, not 0000/, '0'.repeat(64)],
    [
      'a body over the limit',
      () => Readable.from([Buffer.from([0x1f, 0x8b]), Buffer.alloc(600), Buffer.alloc(600)]),
      413,
      /larger than this server's limit of 1000 bytes/,
    ],
    ['a body that is not gzip', () => Readable.from([Buffer.from('PK\x03\x04zip')]), 415, /not a gzip file \(it starts with 0x504b\)/],
    ['a one-byte body', () => Readable.from([Buffer.from([0x1f])]), 415, /not a gzip file/],
    ['an empty body', () => Readable.from([]), 400, /empty/],
  ];
  for (const [what, body, status, message, expected] of refusals) {
    it(`refuses ${what} and leaves no file behind`, async () => {
      const dir = tmp('uploads');
      const err = await refusal(receiveUpload(body(), { dir, prefix: 'artifact', maxBytes: 1000, sha256: expected }));
      expect(err.status).to.equal(status);
      expect(err.message).to.match(message);
      expect(err.hint).to.be.a('string');
      expect(fs.readdirSync(dir)).to.deep.equal([]);
    });
  }

  it('survives writes still in flight when a refusal destroys the file stream', async () => {
    for (let i = 0; i < 20; i++) {
      const dir = tmp('uploads');
      const chunks = [Buffer.from([0x1f, 0x8b]), ...Array.from({ length: 200 }, () => crypto.randomBytes(4096))];
      const err = await refusal(receiveUpload(Readable.from(chunks), { dir, prefix: 'x', maxBytes: 100 * 4096 }));
      expect(err.status).to.equal(413);
      await new Promise((r) => setTimeout(r, 5));
      expect(fs.readdirSync(dir)).to.deep.equal([]);
    }
  });

  it('answers a refused upload whose client keeps sending without end (a slow flood), instead of reading it forever', async function () {
    this.timeout(20_000);
    const dir = tmp('uploads');
    let sent = 0;
    // Over the limit at once, then a chunk now and then, never ending: the linger after a refusal is bounded.
    const body = new Readable({
      read() {
        sent += 1;
        setTimeout(() => this.push(Buffer.alloc(4096, sent === 1 ? 0x1f : 0)), sent === 1 ? 0 : 50);
      },
    });
    body.push(Buffer.concat([Buffer.from([0x1f, 0x8b]), crypto.randomBytes(8192)]));
    const err = await refusal(receiveUpload(body, { dir, prefix: 'x', maxBytes: 4096 }));
    expect(err.status).to.equal(413);
    expect(fs.readdirSync(dir)).to.deep.equal([]);
    body.destroy();
  });

  it('refuses an upload whose client went away, leaving no file', async () => {
    const dir = tmp('uploads');
    const body = new Readable({ read() {} });
    body.push(Buffer.from([0x1f, 0x8b, 1, 2]));
    setTimeout(() => body.destroy(), 20);
    const err = await refusal(receiveUpload(body, { dir, prefix: 'x', maxBytes: 1000 }));
    expect(err.message).to.match(/ended before the whole body arrived|could not store/);
    expect(fs.readdirSync(dir)).to.deep.equal([]);
  });

  it('refuses, rather than waits forever for, an upload whose client went away before it was read', async () => {
    const dir = tmp('uploads');
    const body = new Readable({ read() {} });
    body.push(Buffer.from([0x1f, 0x8b, 1, 2]));
    body.destroy();
    await new Promise((r) => setImmediate(r)); // its 'close' has been emitted, as when auth took a while
    const err = await refusal(receiveUpload(body, { dir, prefix: 'x', maxBytes: 1000 }));
    expect(err.message).to.match(/ended before the whole body arrived/);
    expect(fs.readdirSync(dir)).to.deep.equal([]);
  });

  it('accepts only tarball media types, saying what to send', () => {
    for (const t of ['application/gzip', 'application/octet-stream', 'application/x-gzip; charset=binary'])
      expect(() => checkMediaType(t)).to.not.throw();
    for (const t of [undefined, 'application/json', 'multipart/form-data; boundary=x']) {
      try {
        checkMediaType(t);
        expect.fail('should refuse');
      } catch (err) {
        expect((err as SlipwayError).status).to.equal(415);
        expect((err as SlipwayError).hint).to.include('Content-Type: application/gzip');
      }
    }
  });
});

describe('api/archive-check', () => {
  it('accepts a Procfile at the root, written as ./Procfile by tar -C DIR .', async () => {
    await checkUploadedArchive(tarDir({ Procfile: 'web: node server.js\n', 'server.js': '' }), { requireProcessTypes: true });
  });

  it('accepts a Slipway bundle that carries its process types in .slipway-release.json', async () => {
    await checkUploadedArchive(tarDir({ '.slipway-release.json': JSON.stringify({ format: 1, processTypes: { web: 'node s.js' } }) }), {
      requireProcessTypes: true,
    });
  });

  it('refuses an artifact without process types, and points at a nested Procfile', async () => {
    const err = await refusal(checkUploadedArchive(tarDir({ 'myapp/Procfile': 'web: x\n' }, ['myapp']), { requireProcessTypes: true }));
    expect(err.status).to.equal(422);
    expect(err.message).to.match(/no Procfile/);
    expect(err.hint).to.include('-C myapp .');
    await checkUploadedArchive(tarDir({ 'myapp/Procfile': 'web: x\n' }, ['myapp']), { requireProcessTypes: false });
  });

  it('refuses a malformed Procfile before a job exists', async () => {
    const err = await refusal(checkUploadedArchive(tarDir({ Procfile: 'this is not a procfile\n' }), { requireProcessTypes: true }));
    expect(err.status).to.equal(422);
    expect(err.message).to.match(/Procfile line 1/);
  });

  /** A tar made entry by entry with Python's tarfile, to build link chains exactly. */
  function crafted(entries: Array<[string, 'dir' | 'file' | 'symlink' | 'hardlink', string?]>): string {
    const file = path.join(tmp('tgz'), 'a.tgz');
    const r = spawnSync('python3', [
      '-c',
      `
import io, json, sys, tarfile
kinds = {'dir': tarfile.DIRTYPE, 'file': tarfile.REGTYPE, 'symlink': tarfile.SYMTYPE, 'hardlink': tarfile.LNKTYPE}
with tarfile.open(sys.argv[1], 'w:gz') as t:
    for name, kind, *link in json.loads(sys.argv[2]):
        ti = tarfile.TarInfo(name); ti.type = kinds[kind]; ti.linkname = link[0] if link else ''
        data = b'web: x\\n' if kind == 'file' else b''
        ti.size = len(data); t.addfile(ti, io.BytesIO(data))
`,
      file,
      JSON.stringify(entries),
    ]);
    if (r.status !== 0) throw new Error(String(r.stderr));
    return file;
  }

  it('refuses a symlink that leaves the tree only through another symlink (a -> b/.., c -> a/..)', async () => {
    const chain = crafted([
      ['Procfile', 'file'],
      ['b', 'dir'],
      ['a', 'symlink', 'b/..'],
      ['c', 'symlink', 'a/..'],
    ]);
    const err = await refusal(checkUploadedArchive(chain, { requireProcessTypes: true }));
    expect(err.status).to.equal(422);
    expect(err.message).to.match(/"c" leads outside the app directory through the archive's own symlinks/);
    const hardlink = crafted([
      ['Procfile', 'file'],
      ['b', 'dir'],
      ['a', 'symlink', 'b/..'],
      ['h', 'hardlink', 'a/../secret'],
    ]);
    expect((await refusal(checkUploadedArchive(hardlink, { requireProcessTypes: false }))).message).to.match(/"h" leads outside/);
    const loop = crafted([
      ['Procfile', 'file'],
      ['l', 'symlink', 'l/x'],
    ]);
    expect((await refusal(checkUploadedArchive(loop, { requireProcessTypes: false }))).status).to.equal(422);
  });

  it('accepts links that stay inside, pnpm-style chains included', async () => {
    await checkUploadedArchive(
      crafted([
        ['Procfile', 'file'],
        ['node_modules/.pnpm/foo@1/node_modules/foo/bin/x', 'file'],
        ['node_modules/foo', 'symlink', '.pnpm/foo@1/node_modules/foo'],
        ['node_modules/.bin/foo', 'symlink', '../foo/bin/x'],
        ['current', 'symlink', '.'],
        ['again', 'hardlink', 'Procfile'],
      ]),
      { requireProcessTypes: true },
    );
  });

  it('refuses unsafe entries with a hint, even for source builds', async () => {
    const dir = tmp('evil');
    fs.symlinkSync('/etc', path.join(dir, 'etc'));
    const file = path.join(tmp('tgz'), 'a.tgz');
    spawnSync('tar', ['-czf', file, '-C', dir, 'etc']);
    const err = await refusal(checkUploadedArchive(file, { requireProcessTypes: false }));
    expect(err.status).to.equal(422);
    expect(err.message).to.match(/symlink "etc" -> "\/etc" points outside/);
    expect(err.hint).to.include('tar -czf');
  });
});

describe('api/params and auth', () => {
  it('reads the token from Bearer and from Basic (password, or user name with an empty password)', () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    expect(tokenFrom('Bearer slp_abc')).to.equal('slp_abc');
    expect(tokenFrom('bearer  slp_abc ')).to.equal('slp_abc');
    expect(tokenFrom(`Basic ${b64('git:slp_abc')}`)).to.equal('slp_abc');
    expect(tokenFrom(`Basic ${b64('slp_abc:')}`)).to.equal('slp_abc');
    expect(tokenFrom(`Basic ${b64('no-colon')}`)).to.equal('');
    expect(tokenFrom('Digest x')).to.equal('');
    expect(tokenFrom(undefined)).to.equal('');
  });

  it('parses versions and checksums or refuses them with 422', () => {
    expect(parseVersion('v3')).to.equal(3);
    expect(parseVersion('12')).to.equal(12);
    expect(parseVersion(4)).to.equal(4);
    expect(parseSha256('AB'.repeat(32))).to.equal('ab'.repeat(32));
    for (const bad of ['latest', 'v', 'v1234567890', '-1', '3.5']) expect(() => parseVersion(bad)).to.throw(/not a release version/);
    expect(() => parseVersion(1.5)).to.throw(SlipwayError);
    expect(() => parseSha256('abc')).to.throw(/not a sha256/);
  });
});
