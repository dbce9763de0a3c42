import { expect } from 'chai';
import { DeployError, SlipwayError, invalid } from '../src/errors.js';

describe('errors', () => {
  it('takes only the listed codes and stage names (the type check of this file is the test)', () => {
    // @ts-expect-error a code that is not in ErrorCode does not compile
    const typo = new SlipwayError('not_fuond', 'x');
    // @ts-expect-error a stage that is not one of the pipeline's does not compile
    const stage = new DeployError('x', { app: 'shop', stage: 'deploy' });
    expect([typo.code, stage.stage]).to.deep.equal(['not_fuond', 'deploy']);
  });

  it('keeps the codes clients read', () => {
    expect(invalid('bad').code).to.equal('invalid');
    expect(new DeployError('x', { app: 'shop', stage: 'build' })).to.include({ code: 'deploy_failed', stage: 'build', status: 500 });
  });
});
