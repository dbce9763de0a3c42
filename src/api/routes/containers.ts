import { guestOf } from '../../pipeline/guests.js';
import type { FastifyInstance } from 'fastify';
import { appFor, visibleApps } from '../../auth/access.js';
import { SlipwayError, invalid, notFound } from '../../errors.js';
import type { OneOff } from '../../pipeline/one-offs.js';
import { liveRuntime, releaseRuntime } from '../../pipeline/release-runtime.js';
import type { Instance } from '../../runtime/driver.js';
import type { App, User } from '../../store/index.js';
import { requestUser } from '../auth.js';
import type { ApiContext } from '../context.js';
import { parseVersion } from '../params.js';
import { acceptedSchema, containerSchema, errorResponses, idParams } from '../runtime-schemas.js';
import { list } from '../schemas.js';
import { acceptedInQueue } from './queue.js';

const TAGS = ['containers'];
const iso = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString() : null);
export const containerUrl = (id: string) => `/api/v1/containers/${encodeURIComponent(id)}`;

type Container = Instance & Partial<Pick<OneOff, 'command' | 'exitCode' | 'finishedAt'>> & { kind: 'formation' | 'one-off' };

function containerView(c: Container, driver: string) {
  return {
    id: c.id,
    app: c.app,
    release: `v${c.release}`,
    type: c.type,
    index: c.index,
    kind: c.kind,
    state: c.state,
    port: c.port ?? null,
    host: c.node ?? null,
    address: c.host ?? null,
    driver,
    started_at: iso(c.startedAt),
    restarts: c.restarts,
    command: c.command ?? null,
    exit_code: c.exitCode ?? null,
    finished_at: iso(c.finishedAt),
    url: containerUrl(c.id),
  };
}

/**
 * Containers (the 001 seed): every running instance of the apps the caller
 * may see, whatever the driver, plus detached one-offs. `POST` starts a
 * one-off of a release through the queue (202 → /api/v1/queue/ID → 303 here);
 * `DELETE` stops a one-off. Formation instances belong to `ps:scale`.
 */
export function registerContainers(api: FastifyInstance, ctx: ApiContext): void {
  const { store } = ctx;
  // The driver a release runs on is fixed at its first start (runtime/multiplexer.ts).
  const driverName = (c: Container) =>
    ctx.store.releases.get(ctx.store.apps.byName(c.app)?.id ?? -1, c.release)?.driver ?? ctx.settings.defaultDriver;

  api.get<{ Querystring: { app?: string } }>(
    '/api/v1/containers',
    {
      schema: {
        summary: 'Running instances and one-offs of the apps you may see',
        tags: TAGS,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { app: { type: 'string', maxLength: 100, description: 'only this app' } },
        },
        response: { 200: list(containerSchema), ...errorResponses },
      },
    },
    async (req) => {
      const user = requestUser(req);
      const apps = req.query.app ? [appFor(store, user, req.query.app)] : visibleApps(store, user);
      return apps.flatMap((a) => containersOf(ctx, a.name)).map((c) => containerView(c, driverName(c)));
    },
  );

  api.get<{ Params: { id: string } }>(
    '/api/v1/containers/:id',
    { schema: { summary: 'One container', tags: TAGS, params: idParams, response: { 200: containerSchema, ...errorResponses } } },
    async (req) => {
      const found = findContainer(ctx, requestUser(req), req.params.id);
      return containerView(found, driverName(found));
    },
  );

  api.post<{ Body: { app?: unknown; command?: unknown; release?: unknown } | undefined }>(
    '/api/v1/containers',
    {
      schema: {
        summary: "Start a detached one-off of an app's release (async: 202, then the queue answers 303 to the container)",
        tags: TAGS,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            app: { type: 'string' },
            // Types are checked by parseCommand (one clear 422), not by the schema.
            command: {
              description:
                'program and arguments as an array of strings, run as given and never through a shell; a string is split at spaces',
            },
            release: { type: 'string', description: 'vN; default the live release' },
          },
        },
        response: { 202: acceptedSchema, ...errorResponses },
      },
    },
    async (req, reply) => {
      const user = requestUser(req);
      const body = req.body ?? {};
      if (typeof body.app !== 'string' || !body.app)
        throw invalid('say which app to run in', '{"app": "myapp", "command": ["node", "worker.js"]}');
      const app = appFor(store, user, body.app);
      const argv = parseCommand(body.command);
      const version = body.release == null ? undefined : runnableRelease(ctx, app, body.release);
      if (version === undefined && app.currentRelease == null) await liveRuntime(ctx.platform.services, app);
      const job = ctx.platform.queue.enqueueTask({
        app,
        userName: user.name,
        kind: 'run',
        params: { command: argv, release: version == null ? null : `v${version}` },
        serial: true,
        run: async ({ log }) => {
          const { services, oneOffs } = ctx.platform;
          // The deploys queued ahead may have changed the live release, or the app may be gone.
          const now = store.apps.byId(app.id);
          if (!now) throw new SlipwayError('app_gone', `${app.name} was destroyed before the one-off started`, { status: 410 });
          log.stage(`Run \`${argv.join(' ')}\` in ${now.name}`);
          const rt = version === undefined ? await liveRuntime(services, now) : await releaseRuntime(services, now, version);
          const started = await oneOffs.start({
            app: now.name,
            release: rt.release.version,
            releaseDir: rt.dir,
            dataDir: services.layout.data(now.name),
            env: rt.env,
            image: rt.image,
            ...guestOf(services, now, 'run'),
            argv,
            logFile: `${services.layout.logs(now.name)}/app.log`,
          });
          log.info(`Started ${started.type}.${started.index} (${started.id}) in v${started.release}`);
          log.info(`Its output goes to the app's log: slipway logs ${now.name} --ps ${started.type}.${started.index}`);
          return containerUrl(started.id);
        },
      });
      return acceptedInQueue(reply, job);
    },
  );

  api.delete<{ Params: { id: string } }>(
    '/api/v1/containers/:id',
    {
      schema: {
        summary: 'Stop a one-off (formation instances are scaled with ps:scale)',
        tags: TAGS,
        params: idParams,
        response: { 204: { type: 'null' }, ...errorResponses },
      },
    },
    async (req, reply) => {
      const found = findContainer(ctx, requestUser(req), req.params.id);
      if (found.kind === 'formation') {
        throw new SlipwayError(
          'in_formation',
          `${found.id} is one of ${found.app}'s ${found.type} instances, kept running by its formation`,
          {
            status: 409,
            hint: `change the formation with \`slipway ps:scale ${found.app} ${found.type}=N\`, or restart it with \`slipway ps:restart ${found.app} ${found.type}\``,
          },
        );
      }
      await ctx.platform.oneOffs.stop(found.id);
      return reply.code(204).send();
    },
  );
}

function containersOf(ctx: ApiContext, app: string): Container[] {
  const formation = ctx.platform.services.driver.instances(app).map((i): Container => ({ ...i, kind: 'formation' }));
  const oneOffs = ctx.platform.oneOffs.list(app).map((o): Container => ({ ...o, kind: 'one-off' }));
  return [
    ...formation.sort((a, b) => a.type.localeCompare(b.type) || a.index - b.index || a.release - b.release),
    ...oneOffs.sort((a, b) => a.index - b.index),
  ];
}

/** A container of an app the caller may not see answers exactly like one that does not exist. */
function findContainer(ctx: ApiContext, user: User, id: string): Container {
  const app = ctx.store.apps.byName(id.split('.')[0]!);
  const found = app && appVisible(ctx, user, app) ? containersOf(ctx, app.name).find((c) => c.id === id) : undefined;
  if (!found) throw notFound(`container ${JSON.stringify(id.slice(0, 120))}`, 'list them at /api/v1/containers');
  return found;
}

function appVisible(ctx: ApiContext, user: User, app: App): boolean {
  return visibleApps(ctx.store, user).some((a) => a.id === app.id);
}

/** argv, as the client sent it or split at spaces; no shell ever sees it. */
function parseCommand(command: unknown): string[] {
  const argv = typeof command === 'string' ? command.trim().split(/\s+/).filter(Boolean) : command;
  if (!Array.isArray(argv) || !argv.length || !argv.every((a) => typeof a === 'string') || !argv[0]) {
    throw invalid(
      'say what to run',
      '{"command": ["node", "worker.js"]}: a program and its arguments, run without a shell (use ["sh", "-c", "…"] for shell syntax)',
    );
  }
  return argv as string[];
}

/** A release one-offs may run in: one that went live (its directory or archive still there). */
function runnableRelease(ctx: ApiContext, app: App, release: unknown): number {
  const version = parseVersion(release);
  const r = ctx.store.releases.get(app.id, version);
  if (!r) throw notFound(`release v${version} of ${app.name}`, `list them at /api/v1/apps/${app.name}/releases`);
  if (r.status !== 'succeeded') {
    throw new SlipwayError('not_runnable', `v${version} of ${app.name} cannot run: it is ${r.status}`, {
      status: 409,
      hint: 'pick a succeeded release, or leave "release" out for the live one',
    });
  }
  return version;
}
