import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { appFor, visibleApps } from '../../auth/access.js';
import { checkBaseImages } from '../../builder/dockerfile-from.js';
import { SlipwayError, invalid } from '../../errors.js';
import { LABEL, homeId } from '../../docker/labels.js';
import { buildImage } from '../../docker/image-build.js';
import { requestUser } from '../auth.js';
import { checkBuildContext, openBuildContext, readContextDockerfile } from '../build-context.js';
import type { ApiContext } from '../context.js';
import { engineFor } from '../docker-engine.js';
import { deleteImage, findImage, imageUrl, listImages, tagImage } from '../image-catalog.js';
import { acceptedSchema, errorResponses, idParams, imageSchema } from '../runtime-schemas.js';
import { list } from '../schemas.js';
import { UPLOAD_MEDIA_TYPES, checkDeclaredLength, receiveUpload, sendContinue } from '../upload.js';
import { acceptedInQueue } from './queue.js';

const TAGS = ['images'];
/** Docker's own rule for a tag. */
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const MEDIA_TYPES = [...UPLOAD_MEDIA_TYPES, 'application/zip', 'application/x-zip-compressed', 'application/x-zip'];

type BuildRequest = FastifyRequest<{ Querystring: { app?: string; tag?: string } }>;

/**
 * Images: list, show and delete release archives and built Docker images;
 * `POST` builds an image from an uploaded `.zip` or `.tar.gz` holding a
 * Dockerfile (the 003 seed), through the queue like every long operation.
 */
export async function registerImages(api: FastifyInstance, ctx: ApiContext): Promise<void> {
  api.get<{ Querystring: { app?: string } }>(
    '/api/v1/images',
    {
      schema: {
        summary: 'Release archives and built Docker images of the apps you may see (archives only when no Docker engine answers)',
        tags: TAGS,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { app: { type: 'string', maxLength: 100, description: 'only this app' } },
        },
        response: { 200: list(imageSchema), ...errorResponses },
      },
    },
    async (req) => listImages(ctx, requestUser(req), req.query.app),
  );

  api.get<{ Params: { id: string } }>(
    '/api/v1/images/:id',
    {
      schema: {
        summary: 'One image: APP:vN (a release archive), sha256:HEX or a tag (a Docker image)',
        tags: TAGS,
        params: idParams,
        response: { 200: imageSchema, ...errorResponses },
      },
    },
    async (req) => (await findImage(ctx, requestUser(req), req.params.id)).view,
  );

  api.delete<{ Params: { id: string } }>(
    '/api/v1/images/:id',
    {
      schema: {
        summary: 'Delete a release archive (not the live release nor its rollback target) or a built image no container uses',
        tags: TAGS,
        params: idParams,
        response: { 204: { type: 'null' }, ...errorResponses },
      },
    },
    async (req, reply) => {
      await deleteImage(ctx, await findImage(ctx, requestUser(req), req.params.id));
      return reply.code(204).send();
    },
  );

  api.post<{ Params: { id: string }; Body: { tag?: unknown } | undefined }>(
    '/api/v1/images/:id/tags',
    {
      schema: {
        summary: 'Tag a built image as slipway/APP:TAG (docker tag)',
        tags: TAGS,
        params: idParams,
        body: { type: 'object', additionalProperties: false, properties: { tag: { type: 'string', maxLength: 200 } } },
        response: { 201: imageSchema, ...errorResponses },
      },
    },
    async (req, reply) => {
      const tag = checkTag(req.body?.tag);
      const image = await tagImage(ctx, await findImage(ctx, requestUser(req), req.params.id), tag);
      return reply.code(201).header('location', image.url).send(image);
    },
  );

  await api.register(async (scope) => {
    // The body stays an unread stream: receiveUpload writes it to disk itself.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
    scope.post(
      '/api/v1/images',
      {
        schema: {
          summary:
            'Build a Docker image from a .zip or .tar.gz with a Dockerfile at its root (async: 202, then the queue answers 303 to the image)',
          tags: TAGS,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              app: { type: 'string', description: 'the app the image belongs to' },
              tag: { type: 'string', description: 'tag of slipway/APP:TAG; default latest' },
            },
          },
          response: { 202: acceptedSchema, ...errorResponses },
        },
      },
      (req: BuildRequest, reply) => build(ctx, req, reply).then((job) => acceptedInQueue(reply, job)),
    );
  });
}

function checkTag(tag: unknown): string {
  if (typeof tag === 'string' && TAG.test(tag)) return tag;
  throw invalid(
    `${JSON.stringify(typeof tag === 'string' ? tag.slice(0, 140) : (tag ?? null))} is not a valid image tag`,
    'send {"tag": "v2"}: letters, digits, "_", "." and "-", 128 characters at most, not starting with "." or "-"',
  );
}

async function build(ctx: ApiContext, req: BuildRequest, reply: FastifyReply) {
  const user = requestUser(req);
  if (!req.query.app) throw invalid('say which app the image is for', 'POST /api/v1/images?app=myapp&tag=v1 with the archive as the body');
  const app = appFor(ctx.store, user, req.query.app);
  const tag = checkTag(req.query.tag ?? 'latest');
  const docker = await engineFor(ctx).require();
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (!MEDIA_TYPES.includes(type)) {
    throw new SlipwayError(
      'unsupported_media_type',
      type ? `build contexts are raw .zip or .tar.gz bodies, not ${type}` : 'the upload has no Content-Type',
      {
        status: 415,
        hint: "send the file itself: -H 'Content-Type: application/zip' --data-binary @context.zip (or application/gzip for a .tar.gz)",
      },
    );
  }
  checkDeclaredLength(req.headers['content-length'], ctx.maxUploadBytes);
  sendContinue(req.raw, reply.raw);
  const body = (req.body as Readable | undefined) ?? req.raw;
  const uploads = path.join(ctx.layout.app(app.name), 'uploads');
  const upload = await receiveUpload(body, { dir: uploads, prefix: 'image', maxBytes: ctx.maxUploadBytes, formats: ['gzip', 'zip'] });
  const home = homeId(ctx.layout.home);
  try {
    await checkBuildContext(upload.file, upload.format);
    const mine = new Set(visibleApps(ctx.store, user).map((a) => a.name));
    await checkBaseImages(await readContextDockerfile(upload.file, upload.format), { docker, home, mayUse: (a) => mine.has(a) });
  } catch (err) {
    await fsp.rm(upload.file, { force: true });
    throw err;
  }
  const name = `slipway/${app.name}:${tag}`;
  return ctx.platform.queue.enqueueTask({
    app,
    userName: user.name,
    kind: 'image',
    params: { image: name, format: upload.format === 'zip' ? 'zip' : 'tar.gz', sha256: upload.sha256, size: upload.size },
    // A build touches no release: it need not wait for the app's deploys.
    serial: false,
    run: async ({ job, log, signal }) => {
      log.stage(`Build ${name} from the uploaded ${upload.format === 'zip' ? '.zip' : '.tar.gz'} (${upload.size} bytes)`);
      const opened = await openBuildContext(
        upload.file,
        upload.format,
        path.join(ctx.layout.app(app.name), 'image-builds', String(job.id)),
      );
      try {
        const id = await buildImage({
          docker,
          context: opened.stream,
          tag: name,
          labels: { [LABEL.app]: app.name, [LABEL.role]: 'image', [LABEL.home]: home },
          onOutput: (line) => log.info(line),
          signal,
        });
        log.info(`Built ${id.slice(0, 19)} as ${name}`);
        return imageUrl(id);
      } finally {
        await opened.cleanup();
        await fsp.rm(upload.file, { force: true });
      }
    },
  });
}
