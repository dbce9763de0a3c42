import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  addService,
  createProject,
  destroyProject,
  removeService,
  renameService,
  updateProject,
  type ProjectDeps,
} from '../../projects/actions.js';
import { projectFor, serviceFor, visibleProjects } from '../../projects/lookup.js';
import type { Project, Service, Store } from '../../store/index.js';
import { requestUser } from '../auth.js';
import type { ApiContext } from '../context.js';
import { PROJECT_PARAM, PROJECT_VIEW, SERVICE_PARAM, SERVICE_VIEW, errors, list, params, str } from '../schemas.js';

const iso = (ms: number) => new Date(ms).toISOString();
const projectUrl = (p: Project) => `/api/v1/projects/${p.id}`;

export function serviceView(s: Service) {
  return {
    id: s.id,
    name: s.name,
    project: s.projectName,
    project_id: s.projectId,
    app: s.appName,
    app_url: `/api/v1/apps/${s.appName}`,
    created_at: iso(s.createdAt),
    updated_at: iso(s.updatedAt),
    url: `/api/v1/projects/${s.projectId}/services/${s.id}`,
  };
}

export function projectView(store: Store, p: Project) {
  return {
    id: p.id,
    name: p.name,
    owner: p.ownerName,
    description: p.description,
    created_at: iso(p.createdAt),
    updated_at: iso(p.updatedAt),
    services: store.projects.services(p.id).map(serviceView),
    url: projectUrl(p),
    services_url: `${projectUrl(p)}/services`,
  };
}

const TAGS = ['projects'];
const NAME = str('a-z, 0-9 and "-", starting with a letter, 63 characters at most');
const DESCRIPTION = str('free text', { maxLength: 1000 });
const P = params({ project: PROJECT_PARAM });
const PS = params({ project: PROJECT_PARAM, service: SERVICE_PARAM });

type ProjectReq = FastifyRequest<{ Params: { project: string } }>;
type ServiceReq = FastifyRequest<{ Params: { project: string; service: string } }>;

/**
 * Projects group apps; a service is an app in a project under a name unique
 * within it. Only a project's owner and admins see it; anybody else gets the
 * same 404 as for a project that does not exist. Projects and services are
 * named by id or by name in every path.
 */
export function registerProjects(api: FastifyInstance, ctx: ApiContext): void {
  const { store } = ctx;
  const deps = (req: FastifyRequest): ProjectDeps => ({ store, layout: ctx.layout, user: requestUser(req), settings: ctx.settings });
  const projectOf = (req: ProjectReq) => projectFor(store, requestUser(req), req.params.project);

  api.get(
    '/api/v1/projects',
    {
      schema: { summary: 'list the projects you may see', tags: TAGS, response: { 200: list(PROJECT_VIEW), ...errors(401) } },
    },
    async (req) => visibleProjects(store, requestUser(req)).map((p) => projectView(store, p)),
  );

  api.post<{ Body: { name: string; description?: string } }>(
    '/api/v1/projects',
    {
      schema: {
        summary: 'create a project (its name is unique among your projects)',
        tags: TAGS,
        body: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: NAME, description: DESCRIPTION } },
        response: { 201: PROJECT_VIEW, ...errors(400, 401, 409, 413, 415, 422) },
      },
    },
    async (req, reply) => {
      const project = createProject(deps(req), req.body);
      return reply.code(201).header('location', projectUrl(project)).send(projectView(store, project));
    },
  );

  api.get(
    '/api/v1/projects/:project',
    {
      schema: {
        summary: 'a project and its services, by id or name',
        tags: TAGS,
        params: P,
        response: { 200: PROJECT_VIEW, ...errors(401, 404, 422) },
      },
    },
    async (req: ProjectReq) => projectView(store, projectOf(req)),
  );

  api.patch<{ Params: { project: string }; Body: { name?: string; description?: string } }>(
    '/api/v1/projects/:project',
    {
      schema: {
        summary: 'rename a project or change its description',
        tags: TAGS,
        params: P,
        body: { type: 'object', minProperties: 1, additionalProperties: false, properties: { name: NAME, description: DESCRIPTION } },
        response: { 200: PROJECT_VIEW, ...errors(400, 401, 404, 409, 413, 415, 422) },
      },
    },
    async (req) => projectView(store, updateProject(deps(req), projectOf(req), req.body)),
  );

  api.delete<{ Params: { project: string }; Querystring: { confirm?: string } }>(
    '/api/v1/projects/:project',
    {
      schema: {
        summary: 'delete a project; its apps stay, unlinked. With services it needs ?confirm=PROJECT_NAME',
        tags: TAGS,
        params: P,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { confirm: str('the project name again, required when it has services') },
        },
        response: {
          200: { type: 'object', properties: { deleted: PROJECT_VIEW, unlinked_apps: list(str('app name')) } },
          ...errors(400, 401, 404, 409, 422),
        },
      },
    },
    async (req) => {
      const project = projectOf(req);
      const view = projectView(store, project);
      const services = destroyProject(deps(req), project, req.query.confirm);
      return { deleted: view, unlinked_apps: services.map((s) => s.appName) };
    },
  );

  api.get(
    '/api/v1/projects/:project/services',
    {
      schema: { summary: "a project's services", tags: TAGS, params: P, response: { 200: list(SERVICE_VIEW), ...errors(401, 404, 422) } },
    },
    async (req: ProjectReq) => store.projects.services(projectOf(req).id).map(serviceView),
  );

  api.post<{ Params: { project: string }; Body: { name?: string; app?: string } }>(
    '/api/v1/projects/:project/services',
    {
      schema: {
        summary: 'add a service: link an app you may use, or (without "app") create the app PROJECT-NAME for it',
        tags: TAGS,
        params: P,
        body: {
          type: 'object',
          additionalProperties: false,
          anyOf: [{ required: ['name'] }, { required: ['app'] }],
          properties: {
            name: { ...NAME, description: 'service name, unique within the project; defaults to the app name' },
            app: str('an existing app to link'),
          },
        },
        response: { 201: SERVICE_VIEW, ...errors(400, 401, 404, 409, 413, 415, 422) },
      },
    },
    async (req, reply) => {
      const service = await addService(deps(req), projectOf(req), req.body);
      return reply.code(201).header('location', serviceView(service).url).send(serviceView(service));
    },
  );

  api.get(
    '/api/v1/projects/:project/services/:service',
    {
      schema: { summary: 'a service, by id or name', tags: TAGS, params: PS, response: { 200: SERVICE_VIEW, ...errors(401, 404, 422) } },
    },
    async (req: ServiceReq) => serviceView(serviceFor(store, projectOf(req), req.params.service)),
  );

  api.patch<{ Params: { project: string; service: string }; Body: { name: string } }>(
    '/api/v1/projects/:project/services/:service',
    {
      schema: {
        summary: 'rename a service',
        tags: TAGS,
        params: PS,
        body: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: NAME } },
        response: { 200: SERVICE_VIEW, ...errors(400, 401, 404, 409, 413, 415, 422) },
      },
    },
    async (req) => serviceView(renameService(deps(req), projectOf(req), req.params.service, req.body.name)),
  );

  api.delete(
    '/api/v1/projects/:project/services/:service',
    {
      schema: {
        summary: 'remove a service from its project; the app stays',
        tags: TAGS,
        params: PS,
        response: { 200: { type: 'object', properties: { removed: SERVICE_VIEW } }, ...errors(401, 404, 422) },
      },
    },
    async (req: ServiceReq) => ({ removed: serviceView(removeService(deps(req), projectOf(req), req.params.service)) }),
  );
}
