import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { appFor, visibleApps } from '../auth/access.js';
import { SlipwayError, notFound } from '../errors.js';
import { LABEL, homeId } from '../docker/labels.js';
import type { App, Release, User } from '../store/index.js';
import type { ApiContext } from './context.js';
import { engineFor, type EngineAccess } from './docker-engine.js';
import { IMAGE_ID } from './params.js';

/**
 * Images (the 001 and 003 seeds) are what apps run from: each release
 * archive (`APP:vN`, the slug every driver runs) and each Docker image built
 * for an app (labelled `slipway.app`, id `sha256:…`).
 */
export type ImageView = ReturnType<typeof archiveView> | ReturnType<typeof dockerView>;

const iso = (ms: number | null) => (ms == null ? null : new Date(ms).toISOString());
/** `:` is fine in a path; `/` (in a tag) is not. */
export const imageUrl = (id: string) => `/api/v1/images/${encodeURIComponent(id).replace(/%3A/gi, ':')}`;
const ARCHIVE_ID = /^([a-z][a-z0-9-]{0,62}):v(\d{1,9})$/;

function archiveView(app: App, r: Release) {
  const id = `${app.name}:v${r.version}`;
  return {
    id,
    kind: 'archive' as const,
    app: app.name,
    release: `v${r.version}`,
    live: app.currentRelease === r.version,
    tags: [] as string[],
    sha256: r.sha256,
    size: r.size,
    created_at: iso(r.createdAt),
    url: imageUrl(id),
  };
}

function dockerView(
  app: string,
  i: { Id: string; RepoTags?: string[] | null; Size?: number; Created?: number | string; Labels?: Record<string, string> | null },
) {
  const created = typeof i.Created === 'number' ? i.Created * 1000 : i.Created ? Date.parse(i.Created) : null;
  const release = i.Labels?.[LABEL.release];
  return {
    id: i.Id,
    kind: 'docker' as const,
    app,
    release: release ? `v${release}` : null,
    live: false,
    tags: (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>'),
    sha256: i.Id.replace(/^sha256:/, ''),
    size: i.Size ?? null,
    created_at: iso(created),
    role: i.Labels?.[LABEL.role] ?? null,
    url: imageUrl(i.Id),
  };
}

/** Succeeded releases whose archive file is still there. */
function archivesOf(ctx: ApiContext, app: App): Release[] {
  return ctx.store.releases.list(app.id).filter((r) => r.status === 'succeeded' && r.archivePath && fs.existsSync(r.archivePath));
}

/** Every image of the apps the caller may see; without a Docker engine, the archives alone (never an error). */
export async function listImages(ctx: ApiContext, user: User, only?: string): Promise<ImageView[]> {
  const apps = only ? [appFor(ctx.store, user, only)] : visibleApps(ctx.store, user);
  const archives: ImageView[] = apps.flatMap((a) => archivesOf(ctx, a).map((r) => archiveView(a, r)));
  const names = new Set(apps.map((a) => a.name));
  const engine = engineFor(ctx);
  if (!(await engine.version()).reachable) return archives;
  // This server's images only: another server on the engine may have an app of the same name.
  const built = await engine.docker
    .listImages({ filters: { label: [LABEL.app, `${LABEL.home}=${homeId(ctx.layout.home)}`] } })
    .catch(() => []);
  return [...archives, ...built.filter((i) => names.has(i.Labels?.[LABEL.app] ?? '')).map((i) => dockerView(i.Labels![LABEL.app]!, i))];
}

/** The engine's handle on one image; typed through the engine access, so the API needs no engine client of its own. */
type EngineImage = ReturnType<EngineAccess['docker']['getImage']>;

type Found =
  { kind: 'archive'; app: App; release: Release; view: ImageView } | { kind: 'docker'; app: App; image: EngineImage; view: ImageView };

/** One image by id (`APP:vN`, `sha256:…`, an id prefix or a tag); others' images answer as missing. */
export async function findImage(ctx: ApiContext, user: User, id: string): Promise<Found> {
  const missing = notFound(`image ${JSON.stringify(id.slice(0, 140))}`, 'list them at /api/v1/images');
  const archive = ARCHIVE_ID.exec(id);
  if (archive) {
    const app = ctx.store.apps.byName(archive[1]!);
    const mine = app && visibleApps(ctx.store, user).some((a) => a.id === app.id);
    const release = mine ? archivesOf(ctx, app).find((r) => r.version === Number(archive[2])) : undefined;
    if (!app || !release) throw missing;
    return { kind: 'archive', app, release, view: archiveView(app, release) };
  }
  // Only what names an image of this API reaches the engine: no `..` or `/` beyond `slipway/APP`
  // (the engine client follows the redirect a cleaned path gets, to any address, unguarded).
  if (!IMAGE_ID.test(id)) throw missing;
  const docker = await engineFor(ctx).require();
  const image = docker.getImage(id);
  const info = await image.inspect().catch((err: { statusCode?: number }) => {
    if (err.statusCode === 404 || err.statusCode === 400) throw missing;
    throw err;
  });
  const labels = info.Config?.Labels ?? {};
  const app = labels[LABEL.home] === homeId(ctx.layout.home) ? ctx.store.apps.byName(labels[LABEL.app] ?? '') : undefined;
  if (!app || !visibleApps(ctx.store, user).some((a) => a.id === app.id)) throw missing;
  return { kind: 'docker', app, image, view: dockerView(app.name, { ...info, Labels: info.Config?.Labels }) };
}

/** `docker tag` within the app's own repository (`slipway/APP:TAG`), the 003 seed's tag_image. */
export async function tagImage(ctx: ApiContext, found: Found, tag: string): Promise<ImageView> {
  if (found.kind === 'archive') {
    throw new SlipwayError('not_taggable', `${found.view.id} is a release archive, named by its release`, {
      status: 409,
      hint: 'tags are for built Docker images (sha256:…); releases are promoted or rolled back instead',
    });
  }
  await found.image.tag({ repo: `slipway/${found.app.name}`, tag });
  const info = await found.image.inspect();
  return dockerView(found.app.name, { ...info, Labels: info.Config?.Labels });
}

/**
 * Deletes an archive that neither serves nor is the rollback target (its
 * ledger row stays, `pruned`, as rotation leaves it), or a built image no
 * container uses.
 */
export async function deleteImage(ctx: ApiContext, found: Found): Promise<void> {
  if (found.kind === 'archive') {
    const { app, release } = found;
    const succeeded = ctx.store.releases.list(app.id).filter((r) => r.status === 'succeeded');
    const rollbackTarget = app.currentRelease == null ? undefined : succeeded.find((r) => r.version < app.currentRelease!)?.version;
    if (release.version === app.currentRelease || release.version === rollbackTarget) {
      const role = release.version === app.currentRelease ? 'the live release' : `the rollback target of v${app.currentRelease}`;
      throw new SlipwayError('image_in_use', `${found.view.id} is ${role} of ${app.name}; its archive is kept`, {
        status: 409,
        hint: `deploy or roll back first; older archives can go (list them at /api/v1/images?app=${app.name})`,
      });
    }
    // Their release directory is their working directory: it must outlive them.
    const { services, oneOffs } = ctx.platform;
    const running = [...services.driver.instances(app.name), ...oneOffs.list(app.name).filter((o) => o.finishedAt == null)].filter(
      (i) => i.release === release.version,
    );
    if (running.length) {
      throw new SlipwayError('image_in_use', `${found.view.id} is running in ${running.map((i) => i.id).join(', ')}`, {
        status: 409,
        hint: `stop ${running.length === 1 ? 'it' : 'them'} first (DELETE /api/v1/containers/ID)`,
      });
    }
    await fsp.rm(release.archivePath!, { force: true });
    await fsp.rm(ctx.layout.release(app.name, release.version), { recursive: true, force: true });
    ctx.store.releases.markPruned(release.id);
    return;
  }
  const docker = engineFor(ctx).docker;
  const users = await docker.listContainers({ all: true, filters: { ancestor: [found.view.id] } });
  if (users.length) {
    throw new SlipwayError(
      'image_in_use',
      `image ${found.view.id.slice(0, 19)} is used by ${users.length} container${users.length === 1 ? '' : 's'} (${users.map((c) => c.Names[0]?.slice(1) ?? c.Id.slice(0, 12)).join(', ')})`,
      {
        status: 409,
        hint: 'stop what runs from it first',
      },
    );
  }
  // Forced only past its extra tags: a container using it was ruled out above.
  await found.image.remove({ force: true }).catch((err: { statusCode?: number; message?: string }) => {
    if (err.statusCode === 409)
      throw new SlipwayError('image_in_use', `the engine refuses to delete image ${found.view.id.slice(0, 19)}: ${err.message}`, {
        status: 409,
      });
    throw err;
  });
}
