import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';

/** Which node the stack image runs: the host's (the one the process driver runs) or Debian's `nodejs` package. */
export type StackNode = 'host' | 'debian';

export interface HostNode {
  /** The node binary, symlinks resolved. */
  binary: string;
  /** Its npm package directory (`<prefix>/lib/node_modules/npm`), when it has one. */
  npm?: string;
}

/** The node running this command and the npm installed beside it, as the process driver's builds use them. */
export function hostNode(execPath = process.execPath): HostNode {
  const binary = fs.realpathSync(execPath);
  const npm = path.resolve(path.dirname(binary), '..', 'lib', 'node_modules', 'npm');
  return fs.existsSync(path.join(npm, 'bin', 'npm-cli.js')) ? { binary, npm } : { binary };
}

/**
 * Puts the host's node (and its npm) at /usr/local/bin in a stack rootfs,
 * ahead of Debian's on PATH. Why: a release then runs on the same node
 * major whichever driver starts it (native addons are built for one ABI),
 * and Debian's node 18 is built without V8's startup snapshot and code
 * cache, so every start of it costs ~100 ms more than the host's.
 * Debian's `nodejs` stays installed (its npm and tools depend on it).
 * Returns the version it added, or why it kept Debian's: a host node that
 * does not run inside the stack (another libc, say) is taken out again.
 */
export async function addHostNode(
  rootfs: string,
  node: HostNode,
): Promise<{ added: true; version: string; npm?: string } | { added: false; why: string }> {
  const local = path.join(rootfs, 'usr', 'local');
  const targets = [
    path.join(local, 'bin', 'node'),
    path.join(local, 'bin', 'npm'),
    path.join(local, 'bin', 'npx'),
    path.join(local, 'lib', 'node_modules', 'npm'),
  ];
  const takeOut = async (why: string) => {
    for (const t of targets) await fsp.rm(t, { recursive: true, force: true });
    return { added: false as const, why };
  };
  try {
    await fsp.mkdir(path.join(local, 'bin'), { recursive: true });
    await fsp.copyFile(node.binary, targets[0]!);
    await fsp.chmod(targets[0]!, 0o755);
    if (node.npm) {
      // Not npm's own npmrc: its built-in config may hold the host's registry token or proxy credentials.
      await fsp.cp(node.npm, targets[3]!, {
        recursive: true,
        dereference: false,
        verbatimSymlinks: true,
        filter: (src) => src !== path.join(node.npm!, 'npmrc'),
      });
      // Every app's user runs it: an npm installed with umask 077 (under /root, say) would not run for them.
      await execa('chmod', ['-R', 'a+rX', targets[3]!]);
      await fsp.symlink('../lib/node_modules/npm/bin/npm-cli.js', targets[1]!);
      await fsp.symlink('../lib/node_modules/npm/bin/npx-cli.js', targets[2]!);
    }
  } catch (err) {
    return takeOut(`copying it failed: ${(err as Error).message}`);
  }
  // The image's PATH, which also finds chroot itself (/usr/sbin). Readable by all by now (above), so root's run tells.
  const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/tmp', LANG: 'C.UTF-8' };
  const inRootfs = (argv: string[]) => execa('chroot', [rootfs, ...argv], { env, extendEnv: false, reject: false, timeout: 60_000 });
  const version = await inRootfs(['/usr/local/bin/node', '-p', 'process.version']);
  const npm = node.npm ? await inRootfs(['/usr/local/bin/npm', '--version']) : undefined;
  const failed = version.failed ? version : npm?.failed ? npm : undefined;
  if (failed) {
    return takeOut(
      String(failed.stderr || failed.shortMessage)
        .split('\n')
        .find((l) => l.trim()) ?? `exit ${failed.exitCode}`,
    );
  }
  return { added: true, version: version.stdout.trim(), npm: npm?.stdout.trim() };
}
