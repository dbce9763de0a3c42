import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { appFor } from '../../auth/access.js';
import { SlipwayError } from '../../errors.js';
import { deployArtifact, deploySource, type DeployDeps } from '../../pipeline/deploys.js';
import type { App, Job, User } from '../../store/index.js';
import { checkUploadedArchive } from '../archive-check.js';
import { requestUser } from '../auth.js';
import type { ApiContext } from '../context.js';
import { parseSha256 } from '../params.js';
import { checkDeclaredLength, checkMediaType, receiveUpload, sendContinue } from '../upload.js';
import { ACCEPTED_VIEW, APP_PARAM, errors, params, str } from '../schemas.js';
import { accepted } from './jobs.js';

/** Requests whose `Expect: 100-continue` the route answers itself (see upload.ts). */
export const UPLOAD_ROUTE = /^\/api\/v1\/(?:apps\/[^/?#]+\/(?:artifacts|builds)|images)\/?(?:[?#]|$)/;

type UploadRequest = FastifyRequest<{ Params: { app: string }; Querystring: { sha256?: unknown } }>;

interface UploadKind {
  prefix: string;
  /** Artifacts must name their checksum; for source builds it is optional. */
  shaRequired: boolean;
  /** Artifacts run as they are, so they must say what to run. */
  requireProcessTypes: boolean;
  deploy(deps: DeployDeps, app: App, user: User, file: string, sha256: string): Job;
}

const ARTIFACT: UploadKind = {
  prefix: 'artifact',
  shaRequired: true,
  requireProcessTypes: true,
  deploy: (deps, app, user, file, sha256) => deployArtifact(deps, app, { userName: user.name }, file, sha256),
};

const SOURCE: UploadKind = {
  prefix: 'source',
  shaRequired: false,
  requireProcessTypes: false,
  deploy: (deps, app, user, file) => deploySource(deps, app, { userName: user.name }, file),
};

/**
 * The CI entrances: `POST …/artifacts?sha256=HEX` deploys a release archive
 * built elsewhere, without a build, in any mode; `POST …/builds` builds a
 * source tarball in the app's own mode. Both take the raw `.tar.gz` as the
 * body, streamed to `apps/APP/uploads/`, and refuse anything unsafe or
 * unrunnable before a job exists. The file lives until its job ends.
 */
export async function registerUploads(api: FastifyInstance, ctx: ApiContext): Promise<void> {
  await api.register(async (scope) => {
    // The body stays an unread stream: receiveUpload writes it to disk itself.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
    scope.post(
      '/api/v1/apps/:app/artifacts',
      { schema: uploadSchema('deploy a release archive built elsewhere (no build), as CI uploads it', true) },
      (req: UploadRequest, reply) => upload(ctx, ARTIFACT, req, reply),
    );
    scope.post(
      '/api/v1/apps/:app/builds',
      { schema: uploadSchema("build a source tarball in the app's mode and deploy it", false) },
      (req: UploadRequest, reply) => upload(ctx, SOURCE, req, reply),
    );
  });
}

/** The body is the raw .tar.gz, streamed to disk under maxUploadBytes (413 beyond it). */
function uploadSchema(summary: string, shaRequired: boolean) {
  return {
    summary,
    tags: ['deploys'],
    params: params({ app: APP_PARAM }),
    querystring: {
      type: 'object',
      properties: { sha256: str(`sha256 of the body${shaRequired ? ' (required here, or as X-Slipway-Sha256)' : ', checked when given'}`) },
    },
    consumes: ['application/gzip', 'application/octet-stream'],
    response: { 202: ACCEPTED_VIEW, ...errors(400, 401, 404, 409, 413, 415, 422) },
  };
}

async function upload(ctx: ApiContext, kind: UploadKind, req: UploadRequest, reply: FastifyReply) {
  const user = requestUser(req);
  appFor(ctx.store, user, req.params.app);
  const expected = expectedSha(req, kind.shaRequired);
  checkMediaType(req.headers['content-type']);
  checkDeclaredLength(req.headers['content-length'], ctx.maxUploadBytes);
  sendContinue(req.raw, reply.raw);
  const body = (req.body as Readable | undefined) ?? req.raw;
  const dir = path.join(ctx.layout.app(req.params.app), 'uploads');
  const { file, sha256 } = await receiveUpload(body, { dir, prefix: kind.prefix, maxBytes: ctx.maxUploadBytes, sha256: expected });
  let job: Job;
  try {
    await checkUploadedArchive(file, { requireProcessTypes: kind.requireProcessTypes });
    // Looked up again: the upload may have taken minutes, and the app may have changed or gone.
    job = kind.deploy(ctx.platform, appFor(ctx.store, user, req.params.app), user, file, sha256);
  } catch (err) {
    await fsp.rm(file, { force: true });
    throw err;
  }
  ctx.platform.queue
    .follow(job.id, () => undefined)
    .catch(() => undefined)
    .finally(() => fsp.rm(file, { force: true }).catch(() => undefined));
  return accepted(reply, job);
}

function expectedSha(req: UploadRequest, required: boolean): string | undefined {
  const fromQuery = req.query.sha256;
  const fromHeader = req.headers['x-slipway-sha256'];
  const given = fromQuery ?? fromHeader;
  if (given === undefined || given === '') {
    if (!required) return undefined;
    throw new SlipwayError('sha256_required', 'an artifact upload must say its sha256', {
      hint: `add ?sha256=$(sha256sum app.tgz | cut -d' ' -f1) to the URL, or send it as X-Slipway-Sha256`,
    });
  }
  const sha = parseSha256(given);
  if (fromQuery !== undefined && fromHeader !== undefined && parseSha256(fromHeader) !== sha) {
    throw new SlipwayError('sha256_mismatch', 'the sha256 in the URL and the X-Slipway-Sha256 header differ', { status: 422 });
  }
  return sha;
}
