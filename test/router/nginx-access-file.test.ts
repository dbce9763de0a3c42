import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AccessFileFollower } from '../../src/router/nginx-access-file.js';

describe('AccessFileFollower', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'access-file-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('hands over whole lines only, and follows the file across a rename until it is retired', () => {
    const file = path.join(dir, 'access.log');
    const lines: string[] = [];
    const rotations: number[] = [];
    const follower = new AccessFileFollower(
      file,
      (l) => lines.push(l),
      () => undefined,
      {
        atBytes: 20,
        run: () => rotations.push(lines.length),
      },
    );
    follower.poll(); // no file yet: nothing, no error
    fs.writeFileSync(file, 'one\ntw');
    follower.poll();
    expect(lines).to.deep.equal(['one']);
    fs.appendFileSync(file, 'o\nthree\n');
    follower.poll();
    expect(lines).to.deep.equal(['one', 'two', 'three']);
    expect(rotations).to.deep.equal([]);
    // Renamed away (rotation): a writer still appending to the old file is read, and so is the new one.
    const old = `${file}.1`;
    fs.renameSync(file, old);
    fs.appendFileSync(old, 'late\n');
    fs.writeFileSync(file, 'new\n');
    follower.poll();
    expect(lines).to.deep.equal(['one', 'two', 'three', 'late', 'new']);
    fs.appendFileSync(old, 'last\n');
    follower.retire(old);
    expect(lines.at(-1)).to.equal('last');
    expect(fs.existsSync(old)).to.equal(false);
    // Past atBytes, the owner is asked to rotate.
    fs.appendFileSync(file, 'x'.repeat(30) + '\n');
    follower.poll();
    expect(rotations).to.have.length(1);
    follower.stop();
  });
});
