import path from 'node:path';
import type { DeploySource } from './context.js';

/** The commit a source deploys, when it is known. */
export function sourceCommit(source: DeploySource): string | null {
  if (source.kind === 'git') return source.commit;
  if (source.kind === 'archive') return source.commit ?? null;
  if (source.kind === 'provider') return source.commit ?? null;
  return null;
}

/** Says what a deploy deploys, in the words of the trigger line and the release description. */
export function describeSource(source: DeploySource): string {
  switch (source.kind) {
    case 'git':
      return `commit ${source.commit.slice(0, 7)} (${source.ref.replace(/^refs\/heads\//, '')})`;
    case 'archive':
      if (source.description) return source.description;
      return source.fromApp
        ? `release archive of ${source.fromApp} v${source.fromVersion}`
        : source.fromVersion
          ? `release archive of v${source.fromVersion}`
          : `release archive ${path.basename(source.archive)}`;
    case 'tarball':
      return 'an uploaded source tarball';
    case 'worktree':
      return source.origin ? `${source.branch} of its origin remote` : 'the work tree as it is';
    case 'urls':
      return `the release archive at ${source.urls[0]}`;
    case 'live':
      return 'the live release archive';
    case 'provider':
      return source.commit ? `commit ${source.commit.slice(0, 7)} of ${source.source}` : source.source;
  }
}
