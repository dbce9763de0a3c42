import path from 'node:path';
import { checkGitUrlAtSet, egressError, refuseLocal, type Setter } from '../egress/index.js';
import { classifySpec } from './buildpack-source.js';

/**
 * A buildpack spec as a setter may give it: built-in names and paths inside
 * the source for everyone, git URLs to allowed hosts, host paths and file
 * URLs for admins only. Unknown names are left to the build to refuse.
 */
export function checkBuildpackSpec(setting: string, spec: string, who: Setter): void {
  if (spec.startsWith('-'))
    throw egressError({ setting, url: spec }, 'must not start with "-"', 'use a built-in name, a git URL or a path');
  let source: ReturnType<typeof classifySpec>;
  try {
    source = classifySpec(spec, { builtinDir: '/', buildDir: '/' });
  } catch {
    return;
  }
  const target = { setting, url: spec };
  if (source.kind === 'git') checkGitUrlAtSet(source.url, target, who);
  else if (source.kind === 'path' && path.isAbsolute(spec)) refuseLocal(target, who.admin);
}
