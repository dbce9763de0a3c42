import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import { execa, type Result } from 'execa';
import { SlipwayError } from '../errors.js';
import { STACK_IMAGE, imageExists } from './engine.js';
import { addHostNode, hostNode, type StackNode } from './stack-node.js';

/** What the built-in buildpacks and Heroku-style Procfiles need at run time. */
export const STACK_PACKAGES = ['bash', 'ca-certificates', 'git', 'nodejs', 'npm', 'python3', 'python3-venv', 'curl', 'procps'];

export interface StackBuildOptions {
  docker: Docker;
  /** Rebuild even when the tag exists. */
  force?: boolean;
  /** Debian mirror; default the one apt on this host uses. */
  mirror?: string;
  suite?: string;
  tag?: string;
  /** Whose node the image runs: the host's (default) or Debian's. */
  node?: StackNode;
  /** Progress lines (`-----> …`, `       …`). */
  say: (line: string) => void;
  /** Raw debootstrap/import output, for `--verbose`; default dropped. */
  detail?: (line: string) => void;
}

/**
 * Builds the stack image without any registry: a minbase debootstrap of
 * bookworm plus the runtimes, streamed as a tar into `docker import`.
 * Returns false when the tag already existed and nothing was built.
 */
export async function buildStack(opts: StackBuildOptions): Promise<boolean> {
  const tag = opts.tag ?? STACK_IMAGE;
  const suite = opts.suite ?? 'bookworm';
  if (!opts.force && (await imageExists(opts.docker, tag))) {
    opts.say(`-----> ${tag} already exists (use --force to rebuild)`);
    return false;
  }
  const debootstrap = ['/usr/sbin/debootstrap', '/sbin/debootstrap'].find((p) => fs.existsSync(p));
  if (!debootstrap) {
    throw new SlipwayError('debootstrap_missing', 'debootstrap is not installed', { hint: 'apt-get install -y debootstrap' });
  }
  const mirror = opts.mirror ?? hostMirror() ?? 'http://deb.debian.org/debian';
  const started = Date.now();
  const rootfs = await fsp.mkdtemp(path.join(os.tmpdir(), 'slipway-stack-'));
  try {
    opts.say(`-----> Bootstrapping Debian ${suite} (minbase) from ${mirror}`);
    await run(debootstrap, ['--variant=minbase', suite, rootfs, mirror], opts);
    // apt inside the chroot resolves the runtimes' dependencies far more reliably than debootstrap's --include.
    opts.say(`-----> Installing ${STACK_PACKAGES.join(' ')}`);
    for (const f of ['/etc/resolv.conf', '/etc/apt/apt.conf.d/proxy.conf'])
      if (fs.existsSync(f)) await fsp.cp(f, path.join(rootfs, f), { dereference: true });
    await run(
      'chroot',
      [
        rootfs,
        'sh',
        '-c',
        `apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ${STACK_PACKAGES.join(' ')} && apt-get clean`,
      ],
      opts,
    );
    if ((opts.node ?? 'host') === 'host') {
      const host = hostNode();
      const added = await addHostNode(rootfs, host);
      opts.say(
        added.added
          ? `-----> Added the host's node ${added.version}${added.npm ? ` and npm ${added.npm}` : ''} at /usr/local/bin (the process driver's runtime)`
          : `-----> Kept Debian's node: the host's (${host.binary}) does not run in the stack: ${added.why}`,
      );
    }
    opts.say('-----> Trimming the root filesystem');
    await trim(rootfs);
    opts.say(`-----> Importing it as ${tag}`);
    // The tar streams into the engine; only stderr is kept, for the error.
    const tar = execa('tar', ['-C', rootfs, '--numeric-owner', '-c', '.'], { stdin: 'ignore', buffer: { stdout: false }, reject: false });
    const tarDone = tar.then((result) => checkExit(result, 'tar', result.stderr));
    const stream = await opts.docker.importImage(tar.stdout, {
      repo: tag.split(':')[0],
      tag: tag.split(':')[1] ?? 'latest',
      changes: [
        'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        'ENV LANG=C.UTF-8',
        'WORKDIR /app',
        'CMD ["bash"]',
      ],
    } as object);
    await new Promise<void>((resolve, reject) => {
      opts.docker.modem.followProgress(stream, (err: Error | null, out: Array<{ error?: string }>) => {
        const failed = out?.find((o) => o.error);
        if (err || failed) reject(new SlipwayError('stack_import_failed', `docker import failed: ${err?.message ?? failed?.error}`));
        else resolve();
      });
    });
    await tarDone;
    const image = await opts.docker.getImage(tag).inspect();
    opts.say(
      `-----> Built ${tag} (${image.Id.slice(7, 19)}, ${Math.round(image.Size / 1e6)} MB) in ${Math.round((Date.now() - started) / 1000)}s`,
    );
    return true;
  } finally {
    await fsp.rm(rootfs, { recursive: true, force: true });
  }
}

/** The Debian mirror apt uses here (deb822 `.sources` or one-line `.list`), so builds work behind the same proxy/mirror. */
export function hostMirror(): string | undefined {
  const files = ['/etc/apt/sources.list'];
  const dir = '/etc/apt/sources.list.d';
  if (fs.existsSync(dir)) for (const f of fs.readdirSync(dir).sort()) if (/\.(sources|list)$/.test(f)) files.push(path.join(dir, f));
  for (const file of files) {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    for (const block of text.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(block)?.[1];
      const suites = /^Suites:\s*(.+)$/m.exec(block)?.[1] ?? '';
      if (uri && /(^|\s)bookworm(\s|$)/.test(suites) && !/security/.test(uri)) return uri;
    }
    for (const line of text.split('\n')) {
      const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/.exec(line.trim());
      if (m && !/security/.test(m[1]!)) return m[1];
    }
  }
  return undefined;
}

/** Drops what a run-time image never needs: apt lists, caches, docs. */
async function trim(rootfs: string): Promise<void> {
  // No setuid or setgid programs: nothing in a guest gains an identity it did not start with.
  // The docker driver also sets no-new-privileges; Swarm services (engine 20.10) cannot.
  const setid = await execa('find', [rootfs, '-xdev', '-type', 'f', '-perm', '/6000', '-exec', 'chmod', 'ug-s', '{}', '+'], {
    reject: false,
  });
  checkExit(setid, 'find -perm /6000', setid.stderr);
  for (const dir of ['var/cache/apt/archives', 'var/lib/apt/lists', 'usr/share/doc', 'usr/share/man', 'usr/share/info']) {
    const full = path.join(rootfs, dir);
    for (const entry of await fsp.readdir(full).catch(() => [] as string[])) {
      if (entry === 'partial' || entry === 'lock') continue;
      await fsp.rm(path.join(full, entry), { recursive: true, force: true });
    }
  }
}

/** Phases of debootstrap's `I: …` lines; a line is printed when the phase changes, and a heartbeat every 15 s. */
const PHASES: Record<string, string> = {
  Retrieving: 'download',
  Validating: 'download',
  Checking: 'check',
  Extracting: 'extract',
  Installing: 'install',
  Unpacking: 'install',
  Configuring: 'install',
  Base: 'done',
  Get: 'download',
  Fetched: 'download',
  Selecting: 'install',
  Preparing: 'install',
  Setting: 'configure',
  Processing: 'configure',
};

async function run(cmd: string, args: string[], opts: StackBuildOptions): Promise<void> {
  const child = execa(cmd, args, { stdin: 'ignore', all: true, buffer: false, reject: false });
  let tail: string[] = [];
  let phase = '';
  let lastSaid = 0;
  for await (const line of child.iterable({ from: 'all' })) {
    tail = [...tail.slice(-19), line];
    opts.detail?.(line);
    const word = /^(?:I: )?(\w+)/.exec(line)?.[1];
    const next = word ? (PHASES[word] ?? phase) : phase;
    if (word && PHASES[word] && (next !== phase || Date.now() - lastSaid > 15_000)) {
      phase = next;
      lastSaid = Date.now();
      opts.say(`       ${line.replace(/^I: /, '')}`);
    }
  }
  checkExit(await child, path.basename(cmd), tail.join('\n'));
}

/** A step that could not start says why; one that failed, its exit code and the last lines it wrote. */
function checkExit(result: Result, name: string, tail: string): void {
  if (!result.failed) return;
  if (result.exitCode === undefined) {
    const why = result.cause instanceof Error ? result.cause.message : result.shortMessage;
    throw new SlipwayError('stack_build_failed', `${name}: ${why}`, { cause: result });
  }
  throw new SlipwayError('stack_build_failed', `${name} exited with ${result.exitCode}: ${tail.split('\n').slice(-3).join(' | ')}`, {
    cause: result,
  });
}
