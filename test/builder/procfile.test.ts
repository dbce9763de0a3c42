import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SlipwayError } from '../../src/errors.js';
import { parseProcfile, readProcfile } from '../../src/builder/procfile.js';
import { cleanup, tempDir } from './helpers.js';

describe('build/procfile', () => {
  after(cleanup);

  it('parses process types and their commands', () => {
    const types = parseProcfile('web: node server.js --port $PORT\nworker:   bin/work  \nrelease_phase-2: ./migrate\n');
    expect(types).to.deep.equal({
      web: 'node server.js --port $PORT',
      worker: 'bin/work',
      'release_phase-2': './migrate',
    });
  });

  it('keeps colons inside commands', () => {
    expect(parseProcfile('web: gunicorn app:app -b 0.0.0.0:$PORT')).to.deep.equal({ web: 'gunicorn app:app -b 0.0.0.0:$PORT' });
  });

  it('skips comments, blank lines and CRLF endings', () => {
    const text = '# the web process\r\n\r\n   \r\nweb: npm start\r\n  # indented comment\r\n';
    expect(parseProcfile(text)).to.deep.equal({ web: 'npm start' });
  });

  it('rejects a malformed line with its line number and an example', () => {
    let err: unknown;
    try {
      parseProcfile('# ok\nweb: npm start\nthis is not a process line\n');
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(SlipwayError);
    const e = err as SlipwayError;
    expect(e.code).to.equal('invalid');
    expect(e.message).to.contain('line 3');
    expect(e.message).to.contain('this is not a process line');
    expect(e.hint).to.contain('web: node server.js');
  });

  it('rejects invalid type names, empty commands and duplicates', () => {
    expect(() => parseProcfile('web server: npm start')).to.throw(SlipwayError, /line 1 has an invalid process type "web server"/);
    expect(() => parseProcfile('web:\n')).to.throw(SlipwayError, /line 1 gives process type "web" no command/);
    expect(() => parseProcfile('web: a\nweb: b')).to.throw(SlipwayError, /line 2 defines process type "web" twice/);
  });

  it('reads a Procfile from a directory, and {} when there is none', async () => {
    const dir = await tempDir();
    expect(await readProcfile(dir)).to.deep.equal({});
    await writeFile(path.join(dir, 'Procfile'), 'web: node server.js\n');
    expect(await readProcfile(dir)).to.deep.equal({ web: 'node server.js' });
  });
});
