import type { Db } from './db.js';
import { now } from './db.js';

/**
 * A host: a Docker engine joined to the Swarm the server's own engine manages.
 * `sealedCredentials` is the engine's TLS files or SSH key as the secrets box
 * sealed them (the store never sees them plain); null for a unix socket or plain TCP.
 */
export interface Host {
  id: number;
  name: string;
  /** `unix:///…`, `tcp://HOST:PORT` or `ssh://USER@HOST[:PORT]`, as given to hosts:add. */
  engine: string;
  sealedCredentials: string | null;
  /** The Swarm node ID the engine got when it joined. */
  nodeId: string;
  createdAt: number;
}

export type NewHost = Pick<Host, 'name' | 'engine' | 'sealedCredentials' | 'nodeId'>;

const toHost = (r: any): Host => ({
  id: r.id,
  name: r.name,
  engine: r.engine,
  sealedCredentials: r.credentials,
  nodeId: r.node_id,
  createdAt: r.created_at,
});

export class HostStore {
  constructor(private readonly db: Db) {}

  add(host: NewHost): Host {
    const r = this.db
      .prepare('INSERT INTO hosts (name, engine, credentials, node_id, created_at) VALUES (?, ?, ?, ?, ?) RETURNING *')
      .get(host.name, host.engine, host.sealedCredentials, host.nodeId, now());
    return toHost(r);
  }

  byName(name: string): Host | undefined {
    const r = this.db.prepare('SELECT * FROM hosts WHERE name = ?').get(name);
    return r ? toHost(r) : undefined;
  }

  byNodeId(nodeId: string): Host | undefined {
    const r = this.db.prepare('SELECT * FROM hosts WHERE node_id = ?').get(nodeId);
    return r ? toHost(r) : undefined;
  }

  list(): Host[] {
    return this.db.prepare('SELECT * FROM hosts ORDER BY name').all().map(toHost);
  }

  remove(name: string): boolean {
    return this.db.prepare('DELETE FROM hosts WHERE name = ?').run(name).changes > 0;
  }
}
