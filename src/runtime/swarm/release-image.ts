import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import { SlipwayError } from '../../errors.js';
import { buildImage } from '../../docker/image-build.js';
import { STACK_IMAGE, imageExists } from '../../docker/engine.js';
import { releaseImageLabels } from '../../docker/labels.js';
import type { GuestUser } from '../driver.js';
import { METADATA_FILE } from '../../releases/archive.js';
import { guestIdentity, type Identity } from '../../guest/identity.js';
import { imageIdentity } from '../docker/identity.js';

export interface ReleaseImageRequest {
  docker: Docker;
  /** `HOST:PORT` of the registry every node pulls from. */
  registry: string;
  app: string;
  release: number;
  releaseDir: string;
  /** Dockerfile apps: the release's image, tagged and pushed as it is. */
  image?: string;
  user: GuestUser;
  home: string;
  log: (line: string) => void;
  /** The stack image's own accounts on that engine, the base of the image's /etc/passwd and /etc/group. */
  identity: (docker: Docker) => Promise<Identity>;
}

/** Where a release's image lives in the registry: `REGISTRY/slipway/APP:vN`. */
export function releaseImageRef(registry: string, app: string, release: number): string {
  return `${registry}/slipway/${app}:v${release}`;
}

/** What of a release is not in its image: the server's own (git, per-release metadata). */
const EXCLUDED = ['.git', METADATA_FILE];
/** The image label naming the release files it holds, so a rollback finds the image of its archive. */
const CONTENT_LABEL = 'slipway.content';

/** Its own name, so a release that holds a `Dockerfile` of its own never has it taken for ours. */
const DOCKERFILE = '.slipway-release.Dockerfile';
/** In the build context: the image's /etc files; the release itself is under `app/`, so neither name can clash with it. */
const IDENTITY_DIR = '.slipway-identity';

/**
 * The image a swarm app's release runs from on every node. Made once per
 * release on the manager's engine and pushed: a buildpack release is the
 * stack image with the release in /app, owned by the app's user (so /app is
 * the container's own writable, ephemeral layer); a Dockerfile app's image is
 * tagged as it is. A release whose image the engine still holds (a rollback,
 * a daemon restart) reuses it: nothing is built again.
 */
export async function releaseImage(req: ReleaseImageRequest): Promise<string> {
  const ref = releaseImageRef(req.registry, req.app, req.release);
  const [repo, tag] = [ref.slice(0, ref.lastIndexOf(':')), ref.slice(ref.lastIndexOf(':') + 1)];
  // The user is part of what an image holds (its /app's owner, its /etc/passwd): a promotion to an app of
  // another user gets an image of its own.
  const content = req.image ? undefined : `${await contentHash(req.releaseDir)}.${req.user.uid}.${req.user.gid}`;
  const same = content ? await imageOfContent(req.docker, req.home, content) : undefined;
  if (await imageExists(req.docker, ref)) {
    req.log(`Reusing image ${ref}`);
  } else if (same) {
    // A rollback or a promotion: the release archive an image was already made of.
    req.log(`Reusing image ${same.tag ?? same.id.slice(7, 19)} (the same release archive) as ${ref}`);
    await req.docker.getImage(same.id).tag({ repo, tag });
  } else if (req.image) {
    await req.docker.getImage(req.image).tag({ repo, tag });
  } else {
    if (!(await imageExists(req.docker, STACK_IMAGE)))
      throw new SlipwayError('stack_missing', `the Swarm manager's engine has no stack image ${STACK_IMAGE}`, {
        status: 503,
        hint: 'build it there once with `slipway stack:build` (DOCKER_HOST set to the manager)',
      });
    req.log(`Building image ${ref} (files ${content})`);
    await buildImage({
      docker: req.docker,
      context: await contextOf(req.releaseDir, req.user, await req.identity(req.docker)),
      dockerfile: DOCKERFILE,
      tag: ref,
      labels: { ...releaseImageLabels(req.app, req.release, req.home), [CONTENT_LABEL]: content! },
    });
  }
  await push(req.docker, ref, req.registry);
  return ref;
}

/** Each release's image made once, however many of its instances start at the same time; a failed one is tried again. */
export class ReleaseImages {
  private readonly made = new Map<string, Promise<string>>();
  /** The stack image's accounts, read once (again after a failure). */
  private base?: Promise<Identity>;

  /** `probeHome`: the home label of the probe container, one whose leftovers a docker driver removes at its start. */
  constructor(private readonly probeHome?: string) {}

  of(req: Omit<ReleaseImageRequest, 'identity'>): Promise<string> {
    const key = `${req.app}|${req.release}`;
    let image = this.made.get(key);
    if (!image) {
      image = releaseImage({ ...req, identity: (docker) => this.identity(docker, req.home) });
      this.made.set(key, image);
      image.catch(() => this.made.delete(key));
    }
    return image;
  }

  private identity(docker: Docker, home: string): Promise<Identity> {
    const base = (this.base ??= imageIdentity(docker, STACK_IMAGE, this.probeHome ?? home));
    base.catch(() => this.base === base && (this.base = undefined));
    return base;
  }
}

/** The release's files (paths, modes, contents, link targets), without `.git` and the per-release metadata file. */
export async function contentHash(dir: string): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (rel: string): Promise<void> => {
    const entries = (await fsp.readdir(path.join(dir, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      const p = path.posix.join(rel, e.name);
      if (EXCLUDED.includes(p)) continue;
      const full = path.join(dir, p);
      if (e.isSymbolicLink()) hash.update(`L ${p} ${await fsp.readlink(full)}\n`);
      else if (e.isDirectory()) {
        hash.update(`D ${p}\n`);
        await walk(p);
      } else if (e.isFile()) {
        const st = await fsp.stat(full);
        hash.update(`F ${p} ${st.mode & 0o777} ${st.size}\n`);
        hash.update(await fsp.readFile(full));
      }
    }
  };
  await walk('');
  return hash.digest('hex').slice(0, 32);
}

async function imageOfContent(docker: Docker, home: string, content: string): Promise<{ id: string; tag?: string } | undefined> {
  const [found] = await docker.listImages({ filters: { label: [`${CONTENT_LABEL}=${content}`, `slipway.home=${home}`] } });
  return found ? { id: found.Id, tag: found.RepoTags?.[0] } : undefined;
}

/**
 * A tar of the release (without `.git`) under `app/`, the guest's passwd and
 * group files (guest/identity.ts), and the Dockerfile that puts them at /app
 * and in /etc. Links in the release keep their targets.
 */
async function contextOf(releaseDir: string, user: GuestUser, base: Identity): Promise<NodeJS.ReadableStream> {
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'slipway-image-'));
  const identity = guestIdentity(base, user);
  await fsp.mkdir(path.join(tmp, IDENTITY_DIR));
  for (const name of ['passwd', 'group'] as const) {
    const file = path.join(tmp, IDENTITY_DIR, name);
    await fsp.writeFile(file, identity[name]);
    // COPY keeps the mode: whatever the daemon's umask, the app's user must read them.
    await fsp.chmod(file, 0o644);
  }
  await fsp.writeFile(
    path.join(tmp, DOCKERFILE),
    `FROM ${STACK_IMAGE}\nCOPY ${IDENTITY_DIR}/ /etc/\nCOPY --chown=${user.uid}:${user.gid} app/ /app/\nWORKDIR /app\n`,
  );
  const tar = spawn(
    'tar',
    [
      '-c',
      '-C',
      tmp,
      DOCKERFILE,
      IDENTITY_DIR,
      '-C',
      path.resolve(releaseDir),
      ...EXCLUDED.map((e) => `--exclude=./${e}`),
      // Release members only (named ./…), and hard links (member names), not symlink targets.
      '--transform=s,^\\./,app/,rSh',
      '.',
    ],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  tar.on('close', () => void fsp.rm(tmp, { recursive: true, force: true }));
  return tar.stdout;
}

async function push(docker: Docker, ref: string, registry: string): Promise<void> {
  const stream = (await docker.getImage(ref).push({ authconfig: {} } as never)) as unknown as NodeJS.ReadableStream;
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, events: Array<{ error?: string }> | undefined) => {
      const failed = err?.message ?? events?.find((e) => e.error)?.error;
      if (!failed) return resolve();
      reject(
        new SlipwayError('registry_push_failed', `cannot push ${ref} to the registry ${registry}: ${failed.trim()}`, {
          status: 502,
          hint: "check that the registry answers (`--registry HOST:PORT`) and that the manager's engine lists it under insecure-registries when it is plain HTTP",
        }),
      );
    }),
  );
}
