// Builds Slipway's small C programs into dist/guest when a C compiler is
// here: the guest launcher (src/guest/guest-launch.c), the socket owners
// helper (src/guest/socket-owners.c) and the build agent
// (src/guest/build-agent.c). Without them, or when one does not compile,
// guests launch through unshare, bash, mount and setpriv, and host builds
// run a node in their guest (both slower to start, the same isolation); this
// says so. Each is skipped when it was built from the same source (its hash
// is kept beside it).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(new URL('..', import.meta.url).pathname);
const programs = [
  {
    source: 'src/guest/guest-launch.c',
    target: 'dist/guest/slipway-guest-launch',
    what: 'the guest launcher',
    without: 'guests will launch through unshare/bash/mount/setpriv (slower to start, the same isolation)',
  },
  {
    source: 'src/guest/socket-owners.c',
    target: 'dist/guest/slipway-socket-owners',
    what: 'the socket owners helper',
    without: "guests' ports will be checked by reading /proc/net/tcp (~5 ms a read, on the event loop)",
  },
  {
    source: 'src/guest/build-agent.c',
    target: 'dist/guest/slipway-build-agent',
    what: 'the build agent',
    without: 'host builds will run a node in their guest (slower to start, the same isolation)',
  },
];
const read = (p) => (fs.existsSync(p) ? fs.readFileSync(p, 'utf8').trim() : '');
const cc = () => ['cc', 'gcc', 'clang'].find((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0);

for (const p of process.platform === 'linux' ? programs : []) {
  const source = path.join(root, p.source);
  const target = path.join(root, p.target);
  const stamp = `${target}.sha256`;
  const hash = createHash('sha256').update(fs.readFileSync(source)).digest('hex');
  if (fs.existsSync(target) && read(stamp) === hash) continue;
  const fallback = (why) => {
    fs.rmSync(target, { force: true });
    fs.rmSync(stamp, { force: true });
    console.error(`slipway: ${why}: ${p.without}`);
  };
  const compiler = cc();
  if (!compiler) {
    fallback(`no C compiler (install gcc to build ${p.what})`);
    continue;
  }
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = `${target}.${process.pid}.tmp`;
  const r = spawnSync(compiler, ['-O2', '-Wall', '-Wextra', '-Werror', '-o', tmp, source], { stdio: 'inherit' });
  if (r.status !== 0) {
    fs.rmSync(tmp, { force: true });
    fallback(`${p.what} did not compile with ${compiler}`);
  } else {
    fs.renameSync(tmp, target);
    fs.writeFileSync(stamp, `${hash}\n`);
  }
}
