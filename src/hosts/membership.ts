import type Docker from 'dockerode';
import { SlipwayError, invalid, notFound } from '../errors.js';
import { SEALED_PREFIX, type SecretBox } from '../secrets/box.js';
import type { Host, Store } from '../store/index.js';
import { answer, engineClient, requireAnswer, type EngineCredentials } from './engines.js';
import { engineMessage, initSwarm, requireManager, type EngineInfo, type Manager, type SwarmInfo } from './swarm.js';

/** What every hosts operation needs: the store, the box that seals engine credentials, the manager. */
export interface HostDeps {
  store: Store;
  secrets: SecretBox;
  manager: Manager;
}

export interface AddHost {
  name: string;
  engine: string;
  credentials?: EngineCredentials;
  /** The address the node advertises to the others; the engine picks one when absent. */
  advertiseAddr?: string;
}

export const HOST_NAME = /^[a-z][a-z0-9-]{0,62}$/;
/** Sealed as if for an "app" of this name, so a host's credentials never open as an app's config var. */
const sealScope = (name: string) => `host:${name}`;
const CREDENTIALS = 'engine-credentials';
/** How long a joined node may take to report Ready, and a drained one to empty. */
const READY_MS = 20_000;
const DRAIN_MS = 30_000;

export function checkHostName(name: string): string {
  if (!HOST_NAME.test(name))
    throw invalid(
      `invalid host name ${JSON.stringify(name.slice(0, 70))}`,
      'host names start with a lowercase letter and use only a-z, 0-9 and "-", 63 characters at most',
    );
  return name;
}

export function hostFor(store: Store, name: string): Host {
  const host = store.hosts.byName(name);
  if (!host) throw notFound(`host ${JSON.stringify(name.slice(0, 70))}`, 'list the hosts with `slipway hosts`');
  return host;
}

/** A client for a recorded host's engine, its credentials opened. */
export function hostEngine(deps: HostDeps, host: Host): Docker {
  const credentials = host.sealedCredentials
    ? (JSON.parse(deps.secrets.open(sealScope(host.name), CREDENTIALS, SEALED_PREFIX + host.sealedCredentials)) as EngineCredentials)
    : undefined;
  return engineClient({ address: host.engine, credentials });
}

/**
 * Joins an engine to the Swarm and records it. Every check that can refuse
 * runs before the join, so a refused host is left as it was; a failure after
 * the join makes it leave again.
 */
export function addHost(deps: HostDeps, req: AddHost): Promise<{ host: Host; initialized: boolean }> {
  return oneAtATime(() => addHostNow(deps, req));
}

let changing: Promise<unknown> = Promise.resolve();
/**
 * Joins and removals run one at a time: two at once both pass the name and
 * engine checks, then one's undo (forget the name, leave the Swarm) hit what
 * the other had just recorded or joined.
 */
function oneAtATime<T>(fn: () => Promise<T>): Promise<T> {
  const run = changing.then(fn, fn);
  changing = run.catch(() => undefined);
  return run;
}

async function addHostNow(deps: HostDeps, req: AddHost): Promise<{ host: Host; initialized: boolean }> {
  const name = checkHostName(req.name);
  const { store, manager } = deps;
  if (store.hosts.byName(name))
    throw new SlipwayError('host_exists', `a host named ${name} exists already`, {
      status: 409,
      hint: `pick another name, or remove it first with \`slipway hosts:remove ${name}\``,
    });
  const remote = engineClient({ address: req.engine, credentials: req.credentials });
  await requireAnswer(remote, req.engine);
  await requireAnswer(manager.docker, manager.address);
  const [theirs, ours] = (await Promise.all([
    answer(req.engine, () => remote.info()),
    answer(manager.address, () => manager.docker.info()),
  ])) as EngineInfo[];
  if (theirs.Architecture !== ours.Architecture)
    throw new SlipwayError(
      'host_architecture',
      `the engine at ${req.engine} runs on ${theirs.Architecture}, the server's on ${ours.Architecture}: release images would not run there`,
      { status: 422, hint: `add hosts of the server's architecture (${ours.Architecture})` },
    );
  const itself = theirs.ID === ours.ID;
  const remoteState = theirs.Swarm.LocalNodeState;
  if (!itself && remoteState !== 'inactive' && !(remoteState === 'active' && (await inOurSwarm(manager, theirs, ours)))) {
    throw new SlipwayError(
      'host_in_other_swarm',
      `the engine at ${req.engine} is already ${remoteState === 'active' ? 'part of another Swarm' : `in a Swarm (${remoteState})`}${theirs.Swarm.Cluster?.ID ? ` (cluster ${theirs.Swarm.Cluster.ID})` : ''}`,
      { status: 409, hint: 'make it leave that Swarm first (`docker swarm leave` there), then add it again' },
    );
  }

  const initialized = await initSwarm(manager);
  const swarm = await requireManager(manager);
  let nodeId: string;
  if (itself) nodeId = swarm.nodeId;
  else if (remoteState === 'active')
    nodeId = theirs.Swarm.NodeID; // already one of ours: recorded, not joined again
  else nodeId = await join(remote, req, swarm.managerAddr, manager);
  const taken = store.hosts.byNodeId(nodeId);
  if (taken)
    throw new SlipwayError('host_exists', `that engine is already the host ${taken.name}`, {
      status: 409,
      hint: `see it with \`slipway hosts:info ${taken.name}\``,
    });
  let host: Host | undefined;
  try {
    const sealed = req.credentials ? deps.secrets.seal(sealScope(name), CREDENTIALS, JSON.stringify(req.credentials)) : null;
    host = store.hosts.add({ name, engine: req.engine, sealedCredentials: sealed?.slice(SEALED_PREFIX.length) ?? null, nodeId });
    await labelNode(manager.docker, nodeId, { 'slipway.host': name });
    return { host, initialized };
  } catch (err) {
    // Only what this call recorded: a record of that name made meanwhile is another host's.
    if (host) store.hosts.remove(name);
    if (!itself && remoteState === 'inactive') await remote.swarmLeave({ force: true }).catch(() => undefined);
    throw err;
  }
}

/** Whether an active engine is a node of the manager's Swarm (a worker's `info` names no cluster, so ask the manager). */
async function inOurSwarm(manager: Manager, theirs: EngineInfo, ours: EngineInfo): Promise<boolean> {
  if (ours.Swarm.LocalNodeState !== 'active' || !ours.Swarm.ControlAvailable) return false;
  if (theirs.Swarm.Cluster?.ID) return theirs.Swarm.Cluster.ID === ours.Swarm.Cluster?.ID;
  return manager.docker
    .getNode(theirs.Swarm.NodeID)
    .inspect()
    .then(() => true)
    .catch(() => false);
}

async function join(remote: Docker, req: AddHost, managerAddr: string, manager: Manager): Promise<string> {
  const { JoinTokens } = (await manager.docker.swarmInspect()) as { JoinTokens: { Worker: string } };
  try {
    await remote.swarmJoin({
      ListenAddr: '0.0.0.0:2377',
      RemoteAddrs: [managerAddr],
      JoinToken: JoinTokens.Worker,
      ...(req.advertiseAddr ? { AdvertiseAddr: req.advertiseAddr } : {}),
    });
  } catch (err) {
    // A join that timed out may still complete later: make sure it does not.
    await remote.swarmLeave({ force: true }).catch(() => undefined);
    throw new SlipwayError('host_join_failed', `the engine at ${req.engine} could not join the Swarm: ${engineMessage(err)}`, {
      status: 422,
      cause: err,
      hint: `it must reach the manager at ${managerAddr} (TCP 2377, 7946 and UDP 4789); name its own address with --advertise-addr`,
    });
  }
  const nodeId = ((await remote.info()) as { Swarm: SwarmInfo }).Swarm.NodeID;
  const end = Date.now() + READY_MS;
  while (Date.now() < end) {
    const node = (await manager.docker.getNode(nodeId).inspect()) as { Status: { State: string } };
    if (node.Status.State === 'ready') return nodeId;
    await new Promise((r) => setTimeout(r, 200));
  }
  await remote.swarmLeave({ force: true }).catch(() => undefined);
  throw new SlipwayError(
    'host_join_failed',
    `the engine at ${req.engine} joined the Swarm but did not become ready within ${READY_MS / 1000} s`,
    {
      status: 422,
      hint: 'check that the manager and the host reach each other (TCP 7946 and UDP 4789 both ways)',
    },
  );
}

/** Sets (`KEY=VALUE`) or removes (`value` null) labels of a Swarm node. */
export async function labelNode(docker: Docker, nodeId: string, labels: Record<string, string | null>): Promise<Record<string, string>> {
  const node = docker.getNode(nodeId);
  const { Version, Spec } = (await node.inspect()) as { Version: { Index: number }; Spec: { Labels?: Record<string, string> } };
  const next: Record<string, string> = { ...(Spec.Labels ?? {}) };
  for (const [k, v] of Object.entries(labels)) {
    if (v === null) delete next[k];
    else next[k] = v;
  }
  await node.update({ version: Version.Index, ...Spec, Labels: next });
  return next;
}

/** `KEY=VALUE` sets, `KEY-` removes; keys as Docker allows them. */
export function parseLabels(args: string[]): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const a of args) {
    // Values are shown to every admin in `hosts`: no control characters (a terminal would run an escape).
    const m = /^([A-Za-z0-9][A-Za-z0-9._-]{0,99})(?:=([^\x00-\x1f\x7f]{0,200})|(-))$/.exec(a);
    if (!m) throw invalid(`invalid label ${JSON.stringify(a.slice(0, 70))}`, 'write KEY=VALUE to set a label, KEY- to remove it');
    if (m[1]!.startsWith('slipway.')) throw invalid(`labels starting with "slipway." are Slipway's own`, 'pick another key');
    out[m[1]!] = m[3] ? null : m[2]!;
  }
  return out;
}

export async function setLabels(deps: HostDeps, name: string, args: string[]): Promise<Record<string, string>> {
  const host = hostFor(deps.store, name);
  const labels = parseLabels(args);
  await requireManager(deps.manager);
  return labelNode(deps.manager.docker, host.nodeId, labels);
}

export async function setAvailability(deps: HostDeps, name: string, availability: 'drain' | 'active'): Promise<void> {
  const host = hostFor(deps.store, name);
  await requireManager(deps.manager);
  const node = deps.manager.docker.getNode(host.nodeId);
  const { Version, Spec } = (await node.inspect()) as { Version: { Index: number }; Spec: Record<string, unknown> };
  await node.update({ version: Version.Index, ...Spec, Availability: availability });
}

/** Tasks Swarm still runs (or is starting) on a node. */
export async function liveTasks(docker: Docker, nodeId: string): Promise<Array<Record<string, any>>> {
  const tasks = (await docker.listTasks({ filters: JSON.stringify({ node: [nodeId], 'desired-state': ['running'] }) })) as Array<
    Record<string, any>
  >;
  return tasks.filter((t) => ['new', 'pending', 'assigned', 'accepted', 'preparing', 'starting', 'running'].includes(t.Status?.State));
}

/**
 * Drains the host, makes its engine leave the Swarm, removes the node and
 * forgets the host. `force` skips what needs the host's own engine (one that
 * is gone for good): the manager removes the node anyway.
 */
export function removeHost(deps: HostDeps, name: string, opts: { force?: boolean } = {}): Promise<void> {
  return oneAtATime(() => removeHostNow(deps, name, opts));
}

async function removeHostNow(deps: HostDeps, name: string, opts: { force?: boolean }): Promise<void> {
  const host = hostFor(deps.store, name);
  const swarm = await requireManager(deps.manager);
  if (host.nodeId === swarm.nodeId)
    throw new SlipwayError('host_is_manager', `${name} is the server's own engine, which manages the Swarm`, {
      status: 409,
      hint: 'remove the other hosts; the manager stays as long as the Swarm does',
    });
  const docker = deps.manager.docker;
  const known = await docker
    .getNode(host.nodeId)
    .inspect()
    .then(() => true)
    .catch((err: { statusCode?: number }) => (err.statusCode === 404 ? false : Promise.reject(err)));
  if (known) {
    await setAvailability(deps, name, 'drain');
    const end = Date.now() + DRAIN_MS;
    while ((await liveTasks(docker, host.nodeId)).length && Date.now() < end) await new Promise((r) => setTimeout(r, 250));
    const remote = hostEngine(deps, host);
    try {
      await requireAnswer(remote, host.engine);
      await remote.swarmLeave({ force: false });
    } catch (err) {
      if (!opts.force)
        throw new SlipwayError('host_unreachable', `${name} is drained but could not leave the Swarm: ${engineMessage(err)}`, {
          status: 422,
          cause: err,
          hint: `if that machine is gone for good, \`slipway hosts:remove ${name} --force\` removes it from the Swarm without it`,
        });
    }
    // A node that left shows as down for a moment; only then may the manager remove it without force.
    await docker.getNode(host.nodeId).remove({ force: true });
  }
  deps.store.hosts.remove(name);
}
