// Builds the guest launcher (src/guest/guest-launch.c) into dist/guest when a
// C compiler is here; without one, or when it does not compile, guests launch
// through unshare, bash, mount and setpriv instead (slower to start, the same
// isolation), and this says so. Skipped when the binary was built from the
// same source (its hash is kept beside it).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(new URL('..', import.meta.url).pathname);
const source = path.join(root, 'src/guest/guest-launch.c');
const target = path.join(root, 'dist/guest/slipway-guest-launch');
const stamp = `${target}.sha256`;
const hash = createHash('sha256').update(fs.readFileSync(source)).digest('hex');
const read = (p) => (fs.existsSync(p) ? fs.readFileSync(p, 'utf8').trim() : '');
const fallback = (why) => {
  fs.rmSync(target, { force: true });
  fs.rmSync(stamp, { force: true });
  console.error(`slipway: ${why}: guests will launch through unshare/bash/mount/setpriv (slower to start, the same isolation)`);
};

if (process.platform === 'linux' && !(fs.existsSync(target) && read(stamp) === hash)) {
  const cc = ['cc', 'gcc', 'clang'].find((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0);
  if (!cc) fallback('no C compiler (install gcc to build the guest launcher)');
  else {
    fs.mkdirSync(path.dirname(target), { recursive: true });
    const tmp = `${target}.${process.pid}.tmp`;
    const r = spawnSync(cc, ['-O2', '-Wall', '-Wextra', '-Werror', '-o', tmp, source], { stdio: 'inherit' });
    if (r.status !== 0) {
      fs.rmSync(tmp, { force: true });
      fallback(`the guest launcher did not compile with ${cc}`);
    } else {
      fs.renameSync(tmp, target);
      fs.writeFileSync(stamp, `${hash}\n`);
    }
  }
}
