// Builds the guest launcher (src/guest/guest-launch.c) into dist/guest when a
// C compiler is here; without one, guests launch through unshare, bash,
// mount and setpriv instead (slower to start, the same isolation), and this
// says so. Skipped when the binary is newer than its source.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(new URL('..', import.meta.url).pathname);
const source = path.join(root, 'src/guest/guest-launch.c');
const target = path.join(root, 'dist/guest/slipway-guest-launch');
const mtime = (p) => fs.statSync(p, { throwIfNoEntry: false })?.mtimeMs ?? -1;

if (process.platform === 'linux' && mtime(target) < mtime(source)) {
  const cc = ['cc', 'gcc', 'clang'].find((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0);
  if (!cc) {
    fs.rmSync(target, { force: true });
    console.error(
      'slipway: no C compiler: guests will launch through unshare/bash/mount/setpriv (slower; install gcc to build the launcher)',
    );
  } else {
    fs.mkdirSync(path.dirname(target), { recursive: true });
    const tmp = `${target}.${process.pid}.tmp`;
    const r = spawnSync(cc, ['-O2', '-Wall', '-Wextra', '-Werror', '-o', tmp, source], { stdio: 'inherit' });
    if (r.status !== 0) {
      fs.rmSync(tmp, { force: true });
      console.error(`slipway: building the guest launcher with ${cc} failed`);
      process.exit(1);
    }
    fs.renameSync(tmp, target);
  }
}
