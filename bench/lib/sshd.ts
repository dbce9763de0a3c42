import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, tmpdir } from '../../test/e2e/harness.js';

export const SSHD = '/usr/sbin/sshd';

/**
 * A throw-away OpenSSH daemon on a free loopback port, logging in as root with
 * one public key. It is the transport of the floor measurement: the same
 * ssh client and git pack protocol a Slipway push uses, with no Slipway in it.
 */
export class ThrowawaySshd {
  private proc?: ChildProcess;

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  /** Fails early with an actionable message when OpenSSH's server is absent. */
  static assertInstalled(): void {
    if (!fs.existsSync(SSHD)) {
      throw new Error(`${SSHD} not found: the floor bench needs OpenSSH's server. Install it with: apt-get install -y openssh-server`);
    }
  }

  static async start(authorizedPubKey: string): Promise<ThrowawaySshd> {
    ThrowawaySshd.assertInstalled();
    const sshd = new ThrowawaySshd(tmpdir('bench-sshd'), await freePort());
    sshd.writeConfig(authorizedPubKey);
    await sshd.spawn();
    return sshd;
  }

  /** A git URL for a bare repository on this host (absolute path, as root). */
  remote(bareRepo: string): string {
    return `ssh://root@127.0.0.1:${this.port}${path.resolve(bareRepo)}`;
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private writeConfig(authorizedPubKey: string): void {
    const hostKey = path.join(this.dir, 'host_ed25519');
    const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
    if (r.status !== 0) throw new Error(`ssh-keygen (host key) failed: ${r.stderr}`);
    const authorizedKeys = path.join(this.dir, 'authorized_keys');
    fs.copyFileSync(authorizedPubKey, authorizedKeys);
    const config = [
      `ListenAddress 127.0.0.1`,
      `Port ${this.port}`,
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      `PidFile ${path.join(this.dir, 'sshd.pid')}`,
      `PermitRootLogin prohibit-password`,
      `PubkeyAuthentication yes`,
      `PasswordAuthentication no`,
      `KbdInteractiveAuthentication no`,
      `UsePAM no`,
      // The temp dir is world-readable /tmp territory; sshd would refuse the keys file otherwise.
      `StrictModes no`,
      // Nothing on a push needs these; leaving them out keeps login work minimal and comparable.
      `PrintMotd no`,
      `PrintLastLog no`,
      `X11Forwarding no`,
      // bash sources ~/.bashrc for commands run by sshd when SHLVL < 2, so root's
      // dotfiles (pyenv init here, ~100-150ms) would land in the floor. Slipway
      // runs git-receive-pack with no login shell, so the floor must not pay that.
      `SetEnv SHLVL=1`,
      // The key exchange the same client agrees with Slipway's SSH server (ssh2 has no
      // sntrup761). OpenSSH's own default, sntrup761x25519, cost ~300 ms of CPU in the
      // client alone on one machine here (ssh HOST true: 467 vs 171 ms), which made
      // the floor slower than a whole Slipway deploy and its ratios meaningless.
      `KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org`,
    ];
    fs.writeFileSync(this.configPath, config.join('\n') + '\n');
  }

  private get configPath(): string {
    return path.join(this.dir, 'sshd_config');
  }

  /** Runs sshd in the foreground and resolves once it logs that it listens. */
  private spawn(): Promise<void> {
    // sshd's privilege separation needs this directory; a container may not have it.
    fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    const proc = spawn(SSHD, ['-D', '-e', '-f', this.configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    let log = '';
    let ready = false;
    return new Promise((resolve, reject) => {
      // Keep draining stderr after startup (sshd logs every login) but stop buffering it.
      proc.stderr!.on('data', (d: Buffer) => {
        if (ready) return;
        log += d.toString();
        if (/Server listening on 127\.0\.0\.1 port/.test(log)) {
          ready = true;
          resolve();
        }
      });
      proc.once('error', reject);
      proc.once('exit', (code) => reject(new Error(`sshd exited (${code}) before listening:\n${log}`)));
    });
  }
}
