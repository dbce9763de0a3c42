import { expect } from 'chai';
import { parseReleaseYaml } from '../../src/builder/release-yaml.js';

describe('bin/release output (release-yaml.ts)', () => {
  it('reads a document that declares nothing as nothing, in each way buildpacks print one', async () => {
    for (const text of ['', '\n', '---', '--- {}\n', '{}', '---\n{}\n']) {
      expect(await parseReleaseYaml(text), JSON.stringify(text)).to.deep.equal({ defaultProcessTypes: {}, configVars: {} });
    }
  });

  it('reads default process types and config vars, scalars as strings', async () => {
    const text = '---\ndefault_process_types:\n  web: node server.js\nconfig_vars:\n  PORT: 5000\n';
    expect(await parseReleaseYaml(text)).to.deep.equal({ defaultProcessTypes: { web: 'node server.js' }, configVars: { PORT: '5000' } });
  });

  it('does not take a declaration that follows an empty mapping for an empty document', async () => {
    await parseReleaseYaml('--- {}\ndefault_process_types:\n  web: x\n').then(
      () => expect.fail('a second mapping after {} is not YAML'),
      (err: Error) => expect(err.message).to.be.a('string'),
    );
  });

  it('refuses what is not a mapping, saying so', async () => {
    await parseReleaseYaml('- web\n').then(
      () => expect.fail('a list was accepted'),
      (err: Error) => expect(err.message).to.equal('bin/release must print a YAML mapping'),
    );
  });
});
