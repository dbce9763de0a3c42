import fs from 'node:fs';
import fsp from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { appFor } from '../../auth/access.js';
import { SlipwayError, notFound } from '../../errors.js';
import type { App, Release } from '../../store/index.js';
import { requestUser } from '../auth.js';
import type { ApiContext } from '../context.js';
import { parseVersion } from '../params.js';
import { releaseView } from '../present.js';
import { APP_PARAM, RELEASE_VIEW, errors, list, params } from '../schemas.js';

type VersionParams = { Params: { app: string; version: string } };

const TAGS = ['releases'];
const VERSION = params({ app: APP_PARAM, version: 'release version, v3 or 3' });

/** The release ledger, and each release's archive: the exact bytes a promotion or rollback deploys. */
export function registerReleases(api: FastifyInstance, ctx: ApiContext): void {
  const { store } = ctx;

  api.get<{ Params: { app: string } }>(
    '/api/v1/apps/:app/releases',
    {
      schema: {
        summary: "an app's releases, newest first",
        tags: TAGS,
        params: params({ app: APP_PARAM }),
        response: { 200: list(RELEASE_VIEW), ...errors(401, 404, 422) },
      },
    },
    async (req) => {
      const app = appFor(store, requestUser(req), req.params.app);
      return store.releases.list(app.id).map((r) => releaseView(app, r));
    },
  );

  api.get<VersionParams>(
    '/api/v1/apps/:app/releases/:version',
    {
      schema: { summary: 'one release', tags: TAGS, params: VERSION, response: { 200: RELEASE_VIEW, ...errors(401, 404, 422) } },
    },
    async (req) => {
      const app = appFor(store, requestUser(req), req.params.app);
      return releaseView(app, releaseOf(ctx, app, req.params.version));
    },
  );

  api.get<VersionParams>(
    '/api/v1/apps/:app/releases/:version/archive',
    {
      schema: {
        summary: "a release's archive, the exact bytes a promotion or rollback deploys",
        tags: TAGS,
        params: VERSION,
        produces: ['application/gzip'],
        response: {
          200: { type: 'string', format: 'binary', description: 'the .tar.gz; X-Slipway-Sha256 has its checksum' },
          ...errors(401, 404, 422),
        },
      },
    },
    async (req, reply) => {
      const app = appFor(store, requestUser(req), req.params.app);
      const r = releaseOf(ctx, app, req.params.version);
      const stat = r.status === 'succeeded' && r.archivePath && r.sha256 ? await fsp.stat(r.archivePath).catch(() => undefined) : undefined;
      if (!stat || !r.archivePath || !r.sha256) throw noArchive(app, r);
      return reply
        .header('content-type', 'application/gzip')
        .header('content-length', stat.size)
        .header('x-slipway-sha256', r.sha256)
        .header('digest', `sha-256=${Buffer.from(r.sha256, 'hex').toString('base64')}`)
        .header('etag', `"sha256-${r.sha256}"`)
        .header('content-disposition', `attachment; filename="${app.name}-v${r.version}.tar.gz"`)
        .send(fs.createReadStream(r.archivePath));
    },
  );
}

function releaseOf(ctx: ApiContext, app: App, version: string): Release {
  const r = ctx.store.releases.get(app.id, parseVersion(version));
  if (!r) throw notFound(`release ${version} of ${app.name}`, `list them at /api/v1/apps/${app.name}/releases`);
  return r;
}

function noArchive(app: App, r: Release): SlipwayError {
  const why =
    r.status === 'pruned'
      ? 'it was pruned with older releases'
      : r.status === 'failed'
        ? 'its deploy failed'
        : r.status === 'pending'
          ? 'it is still being deployed'
          : !r.archivePath
            ? app.mode === 'editable'
              ? 'editable-mode releases are not bundled'
              : 'none was written'
            : 'its archive file is missing';
  return new SlipwayError('no_archive', `v${r.version} of ${app.name} has no release archive: ${why}`, {
    status: 404,
    hint: `pick a release whose archive_url is set from /api/v1/apps/${app.name}/releases`,
  });
}
