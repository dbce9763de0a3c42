import type Docker from 'dockerode';
import fsp from 'node:fs/promises';
import path from 'node:path';
import * as tar from 'tar';
import { guestIdentity, type Identity } from '../../guest/identity.js';
import type { GuestUser } from '../driver.js';
import { LABEL } from '../../docker/labels.js';

/** A file of a created (never started) container, read out of the tar the engine sends. */
async function fileOf(container: Docker.Container, file: string): Promise<string> {
  const archive = (await container.getArchive({ path: file })) as NodeJS.ReadableStream;
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const parser = new tar.Parser({
      onReadEntry: (entry) => {
        entry.on('data', (c: Buffer) => chunks.push(c));
      },
    });
    parser.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    parser.on('error', reject);
    archive.on('error', reject);
    archive.pipe(parser as unknown as NodeJS.WritableStream);
  });
}

/**
 * The image's own /etc/passwd and /etc/group, read from a container created
 * for it and never started (labelled, so a daemon killed meanwhile removes it
 * at its next start).
 */
export async function imageIdentity(docker: Docker, image: string, home: string): Promise<Identity> {
  const container = await docker.createContainer({
    Image: image,
    Cmd: ['true'],
    Labels: { [LABEL.home]: home, [LABEL.role]: 'identity-probe' },
    HostConfig: { NetworkMode: 'none' },
  });
  try {
    return { passwd: await fileOf(container, '/etc/passwd'), group: await fileOf(container, '/etc/group') };
  } finally {
    await container.remove({ force: true }).catch(() => undefined);
  }
}

/**
 * Per-user /etc/passwd and /etc/group files for stack containers (see
 * guest/identity.ts): the stack image's own accounts, read once, and the
 * app's user as `app`. Written under `dir` and bound read-only into each
 * container; a file is replaced by a rename, so a running container keeps
 * the one it was started with.
 */
export class IdentityFiles {
  private base?: Promise<Identity>;
  private readonly written = new Map<string, Promise<{ passwd: string; group: string }>>();

  constructor(
    private readonly docker: Docker,
    private readonly image: string,
    private readonly home: string,
    private readonly dir: string,
  ) {}

  /** Host paths of the user's files, written on first use in this run of the daemon. */
  filesFor(user: GuestUser): Promise<{ passwd: string; group: string }> {
    const key = `${user.uid}.${user.gid}`;
    let files = this.written.get(key);
    if (!files) {
      files = this.write(key, user);
      this.written.set(key, files);
      files.catch(() => this.written.delete(key));
    }
    return files;
  }

  private async write(key: string, user: GuestUser): Promise<{ passwd: string; group: string }> {
    const base = (this.base ??= imageIdentity(this.docker, this.image, this.home));
    base.catch(() => this.base === base && (this.base = undefined));
    const identity = guestIdentity(await base, user);
    await fsp.mkdir(this.dir, { recursive: true, mode: 0o755 });
    const paths = { passwd: path.join(this.dir, `${key}.passwd`), group: path.join(this.dir, `${key}.group`) };
    for (const name of ['passwd', 'group'] as const) {
      const tmp = `${paths[name]}.${process.pid}.tmp`;
      await fsp.writeFile(tmp, identity[name]);
      // Whatever the daemon's umask: the app's user must read them.
      await fsp.chmod(tmp, 0o644);
      await fsp.rename(tmp, paths[name]);
    }
    return paths;
  }
}
