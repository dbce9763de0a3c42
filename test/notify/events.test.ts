import { expect } from 'chai';
import { deployEvent } from '../../src/notify/events.js';

describe('notify/events: the deploy payload', () => {
  const startedAt = Date.UTC(2025, 0, 2, 3, 4, 5);

  it('describes a failed deploy, keys in the documented order', () => {
    const e = deployEvent({
      app: 'myapp',
      jobId: 7,
      kind: 'push',
      mode: 'cooking',
      release: 3,
      commit: 'abc123',
      failure: { stage: 'configure', error: '.slipway/configure exited with status 1' },
      startedAt,
      endedAt: startedAt + 1234.4,
    });
    expect(Object.keys(e)).to.deep.equal([
      'event',
      'app',
      'release',
      'status',
      'commit',
      'kind',
      'mode',
      'stage',
      'error',
      'duration_ms',
      'job_id',
      'log_url',
      'created_at',
    ]);
    expect(e).to.deep.equal({
      event: 'deploy.failed',
      app: 'myapp',
      release: 3,
      status: 'failed',
      commit: 'abc123',
      kind: 'push',
      mode: 'cooking',
      stage: 'configure',
      error: '.slipway/configure exited with status 1',
      duration_ms: 1234,
      job_id: 7,
      log_url: '/api/v1/jobs/7/log',
      created_at: '2025-01-02T03:04:06.234Z',
    });
  });

  it('describes a success with nulls for what does not apply', () => {
    const e = deployEvent({ app: 'a', jobId: 1, kind: 'rollback', mode: 'final', release: 4, startedAt, endedAt: startedAt + 10 });
    expect(e).to.include({
      event: 'deploy.succeeded',
      status: 'succeeded',
      release: 4,
      commit: null,
      stage: null,
      error: null,
      kind: 'rollback',
      mode: 'final',
      duration_ms: 10,
    });
  });

  it('has release null when the deploy failed before a release existed', () => {
    const e = deployEvent({
      app: 'a',
      jobId: 2,
      kind: 'deploy',
      mode: 'final',
      failure: { stage: 'trigger', error: 'no archive' },
      startedAt,
    });
    expect(e.release).to.equal(null);
    expect(e.stage).to.equal('trigger');
    expect(e.duration_ms).to.be.a('number').and.at.least(0);
    expect(JSON.parse(JSON.stringify(e))).to.deep.equal(e);
  });
});
