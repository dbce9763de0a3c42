import fs from 'node:fs';

/**
 * Which dirs these paths are, by device and inode (`-` for one missing): a
 * build's guest or container started ahead mounts the dirs as they were, and
 * one removed and made again since is not the one it holds.
 */
export function dirIds(paths: string[]): string {
  return paths
    .map((p) => {
      const st = fs.statSync(p, { throwIfNoEntry: false });
      return st ? `${st.dev}:${st.ino}` : '-';
    })
    .join(' ');
}
