import { expect } from 'chai';
import { execa } from 'execa';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GuestHost } from '../../src/guest/host.js';
import { GUEST_LAUNCHER } from '../../src/guest/launch.js';
import { requires } from '../support/requires.js';

/**
 * A guest is launched by the compiled launcher (src/guest/guest-launch.c)
 * where it was built, else by unshare → bash → mount → setpriv. Both must
 * leave the app the same: its own uid and gid and nothing more, no
 * capability and no way to gain one, only stdio, an ephemeral /app, and its
 * environment never left on disk.
 */
describe('guest launchers: the compiled one and the chain leave the same guest', function () {
  requires('guests');
  this.timeout(60_000);
  const NOBODY = { uid: 65534, gid: 65534 };

  it('is built with the package on this machine (a C compiler is there)', () => {
    expect(fs.existsSync(GUEST_LAUNCHER), `${GUEST_LAUNCHER} (npm run build builds it)`).to.equal(true);
  });

  for (const launcher of ['compiled', 'chain'] as const) {
    it(`${launcher}: the app's uid only, no capabilities, no_new_privs, only stdio, /app writable and ephemeral, the options file emptied`, async () => {
      const home = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-launcher-'));
      const release = path.join(home, 'release');
      fs.mkdirSync(release);
      fs.writeFileSync(path.join(release, 'kept.txt'), 'from the release\n');
      const host = await GuestHost.create({ home, launcher });
      const probe = [
        'grep -E "^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):" /proc/self/status',
        'ls /proc/self/fd | sort -n | tr "\\n" " "; echo',
        'echo written > /app/written.txt && cat /app/kept.txt /app/written.txt',
        'echo "secret=$SECRET"',
      ].join('; ');
      const guest = host.open({
        name: `probe-${launcher}`,
        user: NOBODY,
        limits: { memoryMb: 128, cpuShares: 1024, pids: 32 },
        app: { dir: release, ephemeral: true },
        env: { SECRET: 'hunter2' },
        argv: ['bash', '-c', probe],
      });
      // A descriptor the daemon holds open must not reach the guest.
      const leaked = fs.openSync(path.join(home, 'release', 'kept.txt'), 'r');
      try {
        const run = await spawnWith(guest.launch.command, guest.launch.args, guest.launch.env, leaked);
        expect(run.exitCode, run.stderr).to.equal(0);
        const status = Object.fromEntries(
          run.stdout.split('\n').flatMap((l) => (/^(\w+):\s*(.*)$/.exec(l) ? [[RegExp.$1, RegExp.$2]] : [])),
        );
        expect(status.Uid!.split(/\s+/)).to.deep.equal(['65534', '65534', '65534', '65534']);
        expect(status.Gid!.split(/\s+/)).to.deep.equal(['65534', '65534', '65534', '65534']);
        expect(status.Groups ?? '').to.equal('');
        for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(status[set], set).to.match(/^0+$/);
        expect(status.NoNewPrivs).to.equal('1');
        // 0-2, and the descriptor ls opens to read the directory.
        const fds = run.stdout.split('\n').find((l) => /^\d+( \d+)* $/.test(l))!;
        expect(fds.trim().split(' ').map(Number)).to.have.length.at.most(4).and.to.include.members([0, 1, 2]);
        expect(fds).to.not.match(/\b[4-9]\b/);
        expect(run.stdout).to.include('from the release\nwritten\n');
        expect(run.stdout).to.include('secret=hunter2');
        // The write stayed in the guest's layer; the options (its environment) are not on disk.
        expect(fs.existsSync(path.join(release, 'written.txt'))).to.equal(false);
        expect(fs.statSync(path.join(home, 'guests', `probe-${launcher}`, 'bwrap.args')).size).to.equal(0);
      } finally {
        fs.closeSync(leaked);
        await guest.destroy();
        fs.rmSync(home, { recursive: true, force: true });
      }
    });
  }

  for (const launcher of ['compiled', 'chain'] as const) {
    it(`${launcher}: the app's user has a name, app, at home in /app; the host's people are not listed`, async () => {
      const home = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-launcher-'));
      const release = path.join(home, 'release');
      fs.mkdirSync(release);
      const host = await GuestHost.create({ home, launcher });
      // A daemon run under a strict umask (systemd's UMask=0077) still gives the app files it can read.
      const umask = process.umask(0o077);
      const guest = (() => {
        try {
          return host.open({
            name: `names-${launcher}`,
            user: { uid: 64123, gid: 64124 },
            limits: { memoryMb: 128, cpuShares: 1024, pids: 32 },
            app: { dir: release, ephemeral: true },
            env: {},
            // The app tries to make itself root by name, too.
            argv: [
              'sh',
              '-c',
              'echo "evil:x:0:0::/:/bin/sh" >> /etc/passwd 2>/dev/null || echo refused; whoami; id -gn; getent passwd app; getent passwd root | cut -d: -f1,3; cat /etc/passwd',
            ],
          });
        } finally {
          process.umask(umask);
        }
      })();
      try {
        const run = await execa(guest.launch.command, guest.launch.args, { env: guest.launch.env, extendEnv: false, reject: false });
        expect(run.exitCode, run.stderr).to.equal(0);
        const [write, who, group, entry, root, ...passwd] = run.stdout.split('\n');
        expect([write, who, group, entry, root]).to.deep.equal(['refused', 'app', 'app', 'app:x:64123:64124:app:/app:/bin/bash', 'root:0']);
        expect(passwd.join('\n')).to.not.include('evil');
        const people = passwd.filter((l) => Number(l.split(':')[2]) >= 1000 && Number(l.split(':')[2]) < 65534);
        expect(people).to.deep.equal(['app:x:64123:64124:app:/app:/bin/bash']);
        // The host's own files are untouched.
        expect(fs.readFileSync('/etc/passwd', 'utf8')).to.not.include(':64123:');
      } finally {
        await guest.destroy();
        fs.rmSync(home, { recursive: true, force: true });
      }
    });
  }

  it('the compiled launcher refuses to make a guest of root, and an incomplete command, in one line', async () => {
    for (const args of [
      ['--uid', '0', '--gid', '0', '--args', '/dev/null', '--', 'true'],
      ['--uid', '1000', '--args', '/dev/null', '--', 'true'],
      ['--uid', '1000', '--gid', 'x', '--args', '/dev/null', '--', 'true'],
      ['--uid', '1000', '--gid', '1000', '--args', '/dev/null', '--bind', '/etc'],
    ]) {
      const r = await execa(GUEST_LAUNCHER, args, { reject: false });
      expect(r.exitCode, args.join(' ')).to.equal(125);
      expect(r.stderr.trim().split('\n'), args.join(' ')).to.have.length(1);
      expect(r.stderr).to.match(/^slipway-guest-launch: /);
    }
  });
});

/** Runs it with `extra` as its fd 3 (execa takes no raw descriptors). */
function spawnWith(command: string, args: string[], env: Record<string, string>, extra: number) {
  return new Promise<{ exitCode: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe', extra] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (exitCode) => resolve({ exitCode, stdout, stderr }));
  });
}
