import type Docker from 'dockerode';
import type { Readable } from 'node:stream';
import type { Instance, InstanceState } from '../driver.js';
import type { LogWriter } from '../../logs/log-writer.js';

/** What the docker driver holds of one instance. */
export interface Tracked {
  instance: Instance;
  containerId: string;
  logs: LogWriter;
  logStream?: Readable;
  stopping?: Promise<void>;
  /** Its memory limit, for the R15 line. */
  memoryMb: number;
  /** The engine reported an OOM kill since it last started. */
  oom?: boolean;
  /** A container that began as a standby: its environment is this file's, not the engine's record (see standby.ts). */
  envFile?: string;
}

export interface EngineEvent {
  id?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/**
 * Follows the engine's container events (`die`, `start`, `oom`) of what
 * carries `labels`; when the stream ends while not `closed` (the engine
 * restarted), `follow` is called again until the engine answers.
 */
export async function followEngineEvents(
  docker: Docker,
  labels: string[],
  opts: { onEvent: (ev: EngineEvent) => void; closed: () => boolean; log: (msg: string) => void; follow: () => Promise<void> },
): Promise<Readable> {
  const stream = (await docker.getEvents({
    filters: { type: ['container'], event: ['die', 'start', 'oom'], label: labels },
  })) as unknown as Readable;
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    for (const line of lines) if (line.trim()) opts.onEvent(JSON.parse(line) as EngineEvent);
  });
  stream.on('error', () => undefined);
  stream.on('close', () => {
    if (opts.closed()) return;
    opts.log('lost the Docker event stream; reconnecting');
    const retry = () => opts.follow().catch(() => !opts.closed() && setTimeout(retry, 2000));
    setTimeout(retry, 1000);
  });
  return stream;
}

/**
 * What an engine event means for an instance: an OOM kill (R15), its exit
 * (crashed, unless it is being stopped) and the engine's restart of it.
 */
export function applyEngineEvent(
  entry: Tracked,
  ev: EngineEvent,
  on: { exited: (code: number | null) => void; restarted: () => void },
): void {
  if (ev.Action === 'oom') {
    // The engine sends it before `die`: the kernel killed a process of the container at its memory limit.
    entry.oom = true;
  } else if (ev.Action === 'die') {
    const code = Number(ev.Actor?.Attributes?.exitCode ?? NaN);
    if (entry.oom) {
      // Heroku's words, so people and log alerts that know them recognise it.
      entry.logs.note(`Error R15 (Memory quota vastly exceeded): killed at its ${entry.memoryMb} MB memory limit`);
      entry.instance.reason = 'memory';
    } else {
      entry.instance.reason = undefined;
    }
    entry.logs.note(`Container exited with status ${Number.isNaN(code) ? 'unknown' : code}`);
    if (!entry.stopping) setState(entry, 'crashed');
    on.exited(Number.isNaN(code) ? null : code);
  } else if (ev.Action === 'start' && !entry.stopping && entry.instance.state === 'crashed') {
    entry.instance.restarts++;
    entry.instance.startedAt = Date.now();
    entry.oom = false;
    entry.instance.reason = undefined;
    setState(entry, 'up');
    entry.logs.note('Restarted by the engine');
    on.restarted();
  }
}

function setState(entry: Tracked, state: InstanceState): void {
  entry.instance.state = state;
  entry.logs.note(`State changed to ${state}`);
}
