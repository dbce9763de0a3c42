import type Docker from 'dockerode';
import { connectEngine, engineAddress } from '../docker/engine.js';
import { SlipwayError, describe } from '../errors.js';
import { answer, requireAnswer } from './engines.js';

/** The server's own engine, which manages the Swarm: the client and its address for messages. */
export interface Manager {
  docker: Docker;
  address: string;
}

/** What the manager says of itself: its Swarm, or why it cannot manage one. */
export type ManagerState =
  { ok: true; info: EngineInfo; clusterId: string; nodeId: string; managerAddr: string } | { ok: false; why: string; hint: string };

/** The fields of `docker info` this code reads. */
export interface EngineInfo {
  ID: string;
  Architecture: string;
  Swarm: SwarmInfo;
}

/** The fields of `docker info`'s Swarm part this code reads (dockerode's types leave them loose). */
export interface SwarmInfo {
  NodeID: string;
  NodeAddr: string;
  LocalNodeState: 'inactive' | 'pending' | 'active' | 'error' | 'locked';
  ControlAvailable: boolean;
  Error?: string;
  Cluster?: { ID: string };
  RemoteManagers?: Array<{ NodeID: string; Addr: string }> | null;
}

/** The Swarm port managers listen on for joins (Docker's default). */
export const SWARM_PORT = 2377;

/** Never throws: whether the server's engine manages an active Swarm, and if not, why. */
export async function managerState(manager: Manager): Promise<ManagerState> {
  let info: EngineInfo;
  try {
    // `info` may fail after a good ping (an engine starting or stopping): still an answer, not a throw, since
    // the daemon asks this at start without waiting, where a rejection would end the process.
    await requireAnswer(manager.docker, manager.address);
    info = (await answer(manager.address, () => manager.docker.info())) as EngineInfo;
  } catch (err) {
    return {
      ok: false,
      why: `the Swarm has no manager: ${describe(err)}`,
      hint: "start the server's Docker engine again; the apps' tasks on other hosts keep running meanwhile",
    };
  }
  const swarm = info.Swarm;
  if (swarm.LocalNodeState === 'inactive')
    return {
      ok: false,
      why: `the server's engine at ${manager.address} is in no Swarm yet`,
      hint: 'run `slipway swarm:init` or add a host',
    };
  if (swarm.LocalNodeState !== 'active' || !swarm.ControlAvailable || !swarm.Cluster)
    return {
      ok: false,
      why: `the Swarm has no manager: the server's engine at ${manager.address} is ${swarm.LocalNodeState}${swarm.ControlAvailable ? '' : ', not a manager'}${swarm.Error ? ` (${swarm.Error})` : ''}`,
      hint: "a Swarm needs its manager: bring the server's engine back into it (`docker swarm init --force-new-cluster` on it if it was the only manager)",
    };
  const managerAddr = `${swarm.NodeAddr}:${SWARM_PORT}`;
  return { ok: true, info, clusterId: swarm.Cluster.ID, nodeId: swarm.NodeID, managerAddr };
}

/** The manager's Swarm, or the one-line error saying why there is none. */
export async function requireManager(manager: Manager): Promise<Extract<ManagerState, { ok: true }>> {
  const state = await managerState(manager);
  if (!state.ok) throw new SlipwayError('swarm_unavailable', state.why, { status: 503, hint: state.hint });
  return state;
}

/**
 * Makes the server's engine a Swarm manager (`docker swarm init`) unless it
 * already is one. Returns whether it created the Swarm.
 */
export async function initSwarm(manager: Manager, opts: { advertiseAddr?: string } = {}): Promise<boolean> {
  const state = await managerState(manager);
  if (state.ok) return false;
  const info = (await answer(manager.address, () => manager.docker.info())) as { Swarm: SwarmInfo };
  if (info.Swarm.LocalNodeState !== 'inactive') throw new SlipwayError('swarm_unavailable', state.why, { status: 503, hint: state.hint });
  try {
    await manager.docker.swarmInit({
      ListenAddr: `0.0.0.0:${SWARM_PORT}`,
      ...(opts.advertiseAddr ? { AdvertiseAddr: opts.advertiseAddr } : {}),
    });
  } catch (err) {
    throw new SlipwayError('swarm_unavailable', `the server's engine could not start a Swarm: ${engineMessage(err)}`, {
      status: 422,
      cause: err,
      hint: 'name the address other hosts reach this one at: `slipway swarm:init --advertise-addr ADDRESS`',
    });
  }
  return true;
}

/** The engine's own one-line reason from a dockerode error (its JSON `message`), else the error's message. */
export function engineMessage(err: unknown): string {
  const json = (err as { json?: { message?: string } }).json;
  const text = json?.message ?? (err as Error).message ?? String(err);
  return text.split('\n')[0]!.replace(/^\(HTTP code \d+\) [a-z ]+ - /, '');
}

/** The server's own engine (DOCKER_HOST, else the default socket) as the Swarm's manager. */
export function serverManager(env: NodeJS.ProcessEnv = process.env): Manager {
  return { docker: connectEngine(env), address: engineAddress(env) };
}
