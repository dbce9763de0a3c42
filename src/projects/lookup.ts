import { SlipwayError, invalid } from '../errors.js';
import { APP_NAME } from '../auth/names.js';
import type { Project, Service, Store, User } from '../store/index.js';

/**
 * Projects and services are named by the app-name rule (they end up beside
 * app names in URLs and CLI output). The rule starts with a letter, so a
 * reference made only of digits is always an id and never a name.
 */
export function checkProjectName(name: string, what: 'project' | 'service' = 'project'): string {
  if (!APP_NAME.test(name)) {
    throw invalid(
      `invalid ${what} name ${JSON.stringify(name.length > 70 ? `${name.slice(0, 67)}...` : name)}`,
      `${what} names start with a lowercase letter and use only a-z, 0-9 and "-", 63 characters at most`,
    );
  }
  return name;
}

const ID = /^[0-9]{1,15}$/;

/** Who may see and change a project: its owner and admins. */
export function mayManage(user: User, project: Project): boolean {
  return user.role === 'admin' || project.ownerId === user.id;
}

export function visibleProjects(store: Store, user: User): Project[] {
  return store.projects.list().filter((p) => mayManage(user, p));
}

/**
 * A project by id or name. A name is looked up among the caller's own
 * projects first; an admin may also name another user's project when only one
 * has that name. A project the caller may not see answers like none at all.
 */
export function projectFor(store: Store, user: User, ref: string): Project {
  let project: Project | undefined;
  if (ID.test(ref)) project = store.projects.byId(Number(ref));
  else {
    checkProjectName(ref);
    project = store.projects.byName(user.id, ref);
    if (!project && user.role === 'admin') {
      const named = store.projects.allNamed(ref);
      if (named.length > 1) {
        throw new SlipwayError('ambiguous_project', `${named.length} users have a project named "${ref}"`, {
          status: 409,
          hint: `name it by id instead: ${named.map((p) => `${p.id} (${p.ownerName})`).join(', ')}`,
        });
      }
      project = named[0];
    }
  }
  if (!project || !mayManage(user, project)) throw noSuchProject(ref);
  return project;
}

/** A service of `project` by id or name. */
export function serviceFor(store: Store, project: Project, ref: string): Service {
  const service = ID.test(ref)
    ? store.projects.service(project.id, Number(ref))
    : store.projects.serviceNamed(project.id, checkProjectName(ref, 'service'));
  if (!service) {
    throw new SlipwayError('service_not_found', `project ${project.name} has no service "${ref}"`, {
      status: 404,
      hint: `list its services with \`slipway projects:info ${project.name}\` or GET /api/v1/projects/${project.id}/services`,
    });
  }
  return service;
}

export const noSuchProject = (ref: string) =>
  new SlipwayError('project_not_found', `project "${ref}" does not exist, or you have no access to it`, {
    status: 404,
    hint: `create it with \`slipway projects:create ${ID.test(ref) ? 'NAME' : ref}\`, or list yours with \`slipway projects\``,
  });
