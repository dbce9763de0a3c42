import type { Db } from './db.js';
import { now } from './db.js';

export interface Project {
  id: number;
  ownerId: number;
  ownerName: string;
  name: string;
  description: string;
  createdAt: number;
  updatedAt: number;
}

/** An app as a member of a project, under a name unique within that project. */
export interface Service {
  id: number;
  projectId: number;
  projectName: string;
  appId: number;
  appName: string;
  name: string;
  createdAt: number;
  updatedAt: number;
}

const toProject = (r: any): Project => ({
  id: r.id,
  ownerId: r.owner_id,
  ownerName: r.owner_name,
  name: r.name,
  description: r.description,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const toService = (r: any): Service => ({
  id: r.id,
  projectId: r.project_id,
  projectName: r.project_name,
  appId: r.app_id,
  appName: r.app_name,
  name: r.name,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const PROJECTS = 'SELECT p.*, u.name AS owner_name FROM projects p JOIN users u ON u.id = p.owner_id';
const SERVICES =
  'SELECT s.*, p.name AS project_name, a.name AS app_name FROM services s JOIN projects p ON p.id = s.project_id JOIN apps a ON a.id = s.app_id';

/** A unique index said no: the caller answers "name taken" instead of a 500. */
const isUniqueViolation = (err: unknown) => (err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE';

/**
 * Projects group apps. The database enforces the naming rules (a project name
 * is unique per owner, a service name per project, an app is in at most one
 * project), so two racing requests cannot both win; writers get `undefined`
 * back when a unique index refused them.
 */
export class ProjectStore {
  constructor(private readonly db: Db) {}

  create(opts: { ownerId: number; name: string; description?: string }): Project | undefined {
    const t = now();
    try {
      const r = this.db
        .prepare('INSERT INTO projects (owner_id, name, description, created_at, updated_at) VALUES (?, ?, ?, ?, ?)')
        .run(opts.ownerId, opts.name, opts.description ?? '', t, t);
      return this.byId(Number(r.lastInsertRowid));
    } catch (err) {
      if (isUniqueViolation(err)) return undefined;
      throw err;
    }
  }

  byId(id: number): Project | undefined {
    const r = this.db.prepare(`${PROJECTS} WHERE p.id = ?`).get(id);
    return r ? toProject(r) : undefined;
  }

  byName(ownerId: number, name: string): Project | undefined {
    const r = this.db.prepare(`${PROJECTS} WHERE p.owner_id = ? AND p.name = ?`).get(ownerId, name);
    return r ? toProject(r) : undefined;
  }

  /** Every project of that name, whoever owns it (an admin looking one up by name). */
  allNamed(name: string): Project[] {
    return this.db.prepare(`${PROJECTS} WHERE p.name = ? ORDER BY p.id`).all(name).map(toProject);
  }

  list(): Project[] {
    return this.db.prepare(`${PROJECTS} ORDER BY u.name, p.name`).all().map(toProject);
  }

  /** False when the new name is taken by another project of the same owner. */
  update(id: number, changes: { name?: string; description?: string }): boolean {
    try {
      this.db
        .prepare('UPDATE projects SET name = coalesce(?, name), description = coalesce(?, description), updated_at = ? WHERE id = ?')
        .run(changes.name ?? null, changes.description ?? null, now(), id);
      return true;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }

  /** Deletes the project and its service links; the apps themselves stay. */
  destroy(id: number): void {
    this.db.prepare('DELETE FROM projects WHERE id = ?').run(id);
  }

  services(projectId: number): Service[] {
    return this.db.prepare(`${SERVICES} WHERE s.project_id = ? ORDER BY s.name`).all(projectId).map(toService);
  }

  service(projectId: number, id: number): Service | undefined {
    const r = this.db.prepare(`${SERVICES} WHERE s.project_id = ? AND s.id = ?`).get(projectId, id);
    return r ? toService(r) : undefined;
  }

  serviceNamed(projectId: number, name: string): Service | undefined {
    const r = this.db.prepare(`${SERVICES} WHERE s.project_id = ? AND s.name = ?`).get(projectId, name);
    return r ? toService(r) : undefined;
  }

  /** The service an app is, if it is in a project. */
  serviceOfApp(appId: number): Service | undefined {
    const r = this.db.prepare(`${SERVICES} WHERE s.app_id = ?`).get(appId);
    return r ? toService(r) : undefined;
  }

  /** Undefined when the name is taken in the project or the app is already a service somewhere. */
  addService(opts: { projectId: number; appId: number; name: string }): Service | undefined {
    const t = now();
    try {
      const r = this.db
        .prepare('INSERT INTO services (project_id, app_id, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)')
        .run(opts.projectId, opts.appId, opts.name, t, t);
      return this.service(opts.projectId, Number(r.lastInsertRowid));
    } catch (err) {
      if (isUniqueViolation(err)) return undefined;
      throw err;
    }
  }

  /** False when another service of the project has that name. */
  renameService(id: number, name: string): boolean {
    try {
      this.db.prepare('UPDATE services SET name = ?, updated_at = ? WHERE id = ?').run(name, now(), id);
      return true;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }

  /** Unlinks the app from the project; the app stays. */
  removeService(id: number): void {
    this.db.prepare('DELETE FROM services WHERE id = ?').run(id);
  }
}
