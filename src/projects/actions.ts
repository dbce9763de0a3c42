import { appFor } from '../auth/access.js';
import { isReservedAppName, type HostSettings } from '../auth/hosts.js';
import { SlipwayError, invalid } from '../errors.js';
import { createBareRepo } from '../git/repos.js';
import { HOOKS_DIR } from '../paths.js';
import type { App, Project, Service, Store, User } from '../store/index.js';
import type { Layout } from '../store/layout.js';
import { checkProjectName, serviceFor } from './lookup.js';
import { DEFAULT_MODE } from '../apps/settings.js';

/**
 * What the CLI and the API both do to projects and services; each entrance
 * only parses its input and prints the result. Errors are SlipwayErrors with
 * the status the API answers with.
 */
export interface ProjectDeps {
  store: Store;
  layout: Layout;
  user: User;
  /** The server's names: an app may not be named after its public host. */
  settings: HostSettings;
}

export function createProject(deps: ProjectDeps, opts: { name: string; description?: string }): Project {
  checkProjectName(opts.name);
  if (opts.description !== undefined) checkDescription(opts.description);
  const project = deps.store.projects.create({ ownerId: deps.user.id, name: opts.name, description: opts.description });
  if (!project) throw projectTaken(opts.name);
  return project;
}

export function updateProject(deps: ProjectDeps, project: Project, changes: { name?: string; description?: string }): Project {
  if (changes.name !== undefined) checkProjectName(changes.name);
  if (changes.description !== undefined) checkDescription(changes.description);
  // Unique per owner: the owner's namespace, not the caller's (an admin renaming someone's project).
  if (!deps.store.projects.update(project.id, changes)) throw projectTaken(changes.name ?? project.name);
  return deps.store.projects.byId(project.id)!;
}

/**
 * Deletes the project and unlinks its services; their apps keep running and
 * keep their data. A project that still has services must be confirmed by
 * name, as apps:destroy asks.
 */
export function destroyProject(deps: ProjectDeps, project: Project, confirm: string | undefined): Service[] {
  const services = deps.store.projects.services(project.id);
  if (services.length > 0 && confirm !== project.name) {
    throw new SlipwayError(
      'confirm_required',
      `project ${project.name} has ${services.length} service${services.length === 1 ? '' : 's'} (${services.map((s) => s.name).join(', ')})`,
      {
        status: 409,
        hint: `confirm with --confirm ${project.name} (API: ?confirm=${project.name}); its apps are unlinked, not deleted`,
      },
    );
  }
  deps.store.projects.destroy(project.id);
  return services;
}

/**
 * Makes an app a service of the project. `app` names an existing app the
 * caller may use; without it a new app `<project>-<name>` is created.
 */
export async function addService(deps: ProjectDeps, project: Project, opts: { name?: string; app?: string }): Promise<Service> {
  const existing = opts.app === undefined ? undefined : appFor(deps.store, deps.user, opts.app);
  const name = checkProjectName(opts.name ?? existing?.name ?? '', 'service');
  if (deps.store.projects.serviceNamed(project.id, name)) throw serviceTaken(project, name);
  const app = existing ?? (await createServiceApp(deps, `${project.name}-${name}`));
  const other = deps.store.projects.serviceOfApp(app.id);
  if (other) {
    throw new SlipwayError('app_in_project', `app ${app.name} is already service ${other.name} of project ${other.projectName}`, {
      status: 409,
      hint: `an app belongs to one project at most: remove it there first with \`slipway projects:remove ${other.projectName} ${other.name}\``,
    });
  }
  const service = deps.store.projects.addService({ projectId: project.id, appId: app.id, name });
  if (!service) throw serviceTaken(project, name);
  return service;
}

export function renameService(deps: ProjectDeps, project: Project, ref: string, name: string): Service {
  const service = serviceFor(deps.store, project, ref);
  checkProjectName(name, 'service');
  if (!deps.store.projects.renameService(service.id, name)) throw serviceTaken(project, name);
  return deps.store.projects.service(project.id, service.id)!;
}

export function removeService(deps: ProjectDeps, project: Project, ref: string): Service {
  const service = serviceFor(deps.store, project, ref);
  deps.store.projects.removeService(service.id);
  return service;
}

async function createServiceApp(deps: ProjectDeps, name: string): Promise<App> {
  if (name.length > 63 || deps.store.apps.byName(name) || isReservedAppName(name, deps.settings)) {
    throw new SlipwayError(
      'app_exists',
      `cannot create app "${name}" for the service: ${name.length > 63 ? 'the name is longer than 63 characters' : 'the name is taken'}`,
      {
        status: 409,
        hint: 'name an existing app to link instead: {"name": "...", "app": "APP"}',
      },
    );
  }
  await createBareRepo(deps.layout.repo(name), HOOKS_DIR);
  return deps.store.apps.create({ name, ownerId: deps.user.id, env: 'staging', mode: DEFAULT_MODE.staging });
}

/** One line of text: listings print it, and a control character could rewrite the reader's terminal. */
function checkDescription(text: string): void {
  if (text.length > 1000) throw invalid(`the description is ${text.length} characters long`, 'keep it to 1000 characters');
  if (/[\u0000-\u001f\u007f-\u009f]/.test(text)) throw invalid('the description contains control characters', 'use one line of plain text');
}

const projectTaken = (name: string) =>
  new SlipwayError('project_exists', `there is already a project named "${name}"`, {
    status: 409,
    hint: 'project names are unique per owner: pick another name',
  });

const serviceTaken = (project: Project, name: string) =>
  new SlipwayError('service_exists', `project ${project.name} already has a service named "${name}"`, {
    status: 409,
    hint: 'service names are unique within a project: pick another name',
  });
