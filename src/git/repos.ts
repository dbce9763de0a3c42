import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';

const HOOKS = ['pre-receive', 'post-receive'] as const;

/**
 * Creates an app's bare repository and links Slipway's hooks into it. Links,
 * not copies, so upgrading Slipway upgrades every app's hooks at once.
 */
export async function createBareRepo(repoPath: string, hooksDir: string, branch = 'main'): Promise<void> {
  await fsp.mkdir(path.dirname(repoPath), { recursive: true });
  await execa('git', ['init', '--quiet', '--bare', `--initial-branch=${branch}`, repoPath]);
  // Refuse non-fast-forward surprises nowhere: `git push --force` is how the RFC triggers redeploys.
  await execa('git', ['config', 'receive.denyNonFastForwards', 'false'], { cwd: repoPath });
  await execa('git', ['config', 'receive.advertisePushOptions', 'true'], { cwd: repoPath });
  await linkHooks(repoPath, hooksDir);
}

export async function linkHooks(repoPath: string, hooksDir: string): Promise<void> {
  const dir = path.join(repoPath, 'hooks');
  await fsp.mkdir(dir, { recursive: true });
  for (const hook of HOOKS) {
    const link = path.join(dir, hook);
    const target = path.join(hooksDir, hook);
    if (fs.existsSync(link) && fs.realpathSync(link) === fs.realpathSync(target)) continue;
    await fsp.rm(link, { force: true });
    await fsp.symlink(target, link);
  }
}

export async function removeRepo(repoPath: string): Promise<void> {
  await fsp.rm(repoPath, { recursive: true, force: true });
}
