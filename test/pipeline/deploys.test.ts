import { expect } from 'chai';
import type { Services } from '../../src/pipeline/context.js';
import { planDeploy, type DeployIntent } from '../../src/pipeline/deploys.js';
import { MODES } from '../../src/pipeline/modes.js';
import type { App, Mode, Release } from '../../src/store/index.js';

describe('pipeline/deploys: the intent table', () => {
  const services = {} as Services;
  const app = (mode: Mode, settings: Record<string, string> = {}) =>
    ({ id: 1, name: 'web', mode, settings, deployBranch: 'main', currentRelease: 3 }) as unknown as App;
  const release = {
    id: 9,
    version: 2,
    archivePath: '/archives/v2.tar.gz',
    sha256: 'abc',
    commit: 'c0ffee',
    config: { A: '1' },
  } as unknown as Release;
  const by = { userName: 'ann' };
  const row = (intent: DeployIntent) => {
    const p = planDeploy(services, intent);
    return [p.kind, p.mode, p.releaseKind, p.source.kind];
  };

  it('gives each intent its job kind, mode, release kind and source', () => {
    expect(row({ kind: 'push', app: app('cooking'), ...by, commit: 'c0ffee', ref: 'refs/heads/main' })).to.deep.equal([
      'push',
      'cooking',
      'build',
      'git',
    ]);
    expect(row({ kind: 'push', app: app('editable'), ...by, commit: 'c0ffee', ref: 'refs/heads/main' })).to.deep.equal([
      'push',
      'editable',
      'build',
      'git',
    ]);
    expect(
      row({ kind: 'push', app: app('final'), ...by, commit: 'c0ffee', ref: 'refs/heads/main', upstream: { app: app('cooking'), release } }),
    ).to.deep.equal(['push', 'final', 'promote', 'archive']);
    expect(row({ kind: 'rollback', app: app('cooking'), ...by, target: release })).to.deep.equal([
      'rollback',
      'final',
      'rollback',
      'archive',
    ]);
    expect(row({ kind: 'promote', app: app('final'), ...by, from: app('cooking'), release })).to.deep.equal([
      'promote',
      'final',
      'promote',
      'archive',
    ]);
    expect(row({ kind: 'config', app: app('editable'), ...by, changes: { A: undefined } })).to.deep.equal([
      'config',
      'final',
      'config',
      'live',
    ]);
    expect(row({ kind: 'upload', app: app('cooking'), ...by, file: '/up/a.tgz', sha256: 'abc' })).to.deep.equal([
      'upload',
      'final',
      'artifact',
      'archive',
    ]);
    expect(row({ kind: 'build', app: app('cooking'), ...by, file: '/up/src.tgz' })).to.deep.equal(['build', 'cooking', 'build', 'tarball']);
    expect(row({ kind: 'redeploy', app: app('editable'), ...by })).to.deep.equal(['deploy', 'editable', 'build', 'worktree']);
    expect(row({ kind: 'redeploy', app: app('final', { artifact_urls: 'https://ci.example/a.tgz' }), ...by })).to.deep.equal([
      'deploy',
      'final',
      'build',
      'urls',
    ]);
    expect(row({ kind: 'redeploy', app: app('final'), ...by })).to.deep.equal(['deploy', 'final', 'build', 'live']);
  });

  it("a rollback deploys its target's archive with its target's config, through the final-mode stages", () => {
    const p = planDeploy(services, { kind: 'rollback', app: app('cooking'), ...by, target: release });
    expect(p.source).to.deep.equal({ kind: 'archive', archive: '/archives/v2.tar.gz', sha256: 'abc', fromVersion: 2, commit: 'c0ffee' });
    expect(p.config).to.deep.equal({ A: '1' });
    expect(p.stages).to.equal(MODES.final);
  });

  it('a config change applies its changes to the live archive', () => {
    const p = planDeploy(services, { kind: 'config', app: app('cooking'), ...by, changes: { A: '2', B: undefined } });
    expect(p.configChanges).to.deep.equal({ A: '2', B: undefined });
    expect(p.config).to.equal(undefined);
  });
});
