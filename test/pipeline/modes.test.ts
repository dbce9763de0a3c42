import { expect } from 'chai';
import { MODES, STAGES, forwardStages } from '../../src/pipeline/modes.js';

describe('pipeline/modes', () => {
  it('lists the corpus RFC stages in order', () => {
    expect(STAGES).to.deep.equal([
      'trigger',
      'archive',
      'init-sync',
      'release-sync',
      'configure',
      'build',
      'reconfigure',
      'activate',
      'upgrade',
      'bundle',
      'post-install',
      'rollback',
      'notify',
    ]);
  });

  it('matches the mode table of DESIGN.md cell for cell', () => {
    const skipped = (mode: keyof typeof MODES) => STAGES.filter((s) => MODES[mode][s] === 'skip');
    expect(skipped('editable')).to.deep.equal(['archive', 'release-sync', 'reconfigure', 'bundle', 'rollback']);
    expect(skipped('cooking')).to.deep.equal(['release-sync']);
    expect(skipped('final')).to.deep.equal(['build']);
  });

  it('final mode never builds and editable mode never bundles', () => {
    expect(forwardStages('final')).to.not.include('build');
    expect(forwardStages('final')).to.include('release-sync');
    expect(forwardStages('editable')).to.not.include('bundle');
  });
});
