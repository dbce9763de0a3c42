import type Docker from 'dockerode';
import { PassThrough, type Readable } from 'node:stream';
import type { LogWriter } from '../../logs/log-writer.js';

/**
 * A task's output, through the manager (Swarm gathers it from the task's
 * node), into the app's log. Returns the engine's stream, to destroy when the
 * instance follows another task or stops.
 */
export async function followTaskLogs(docker: Docker, taskId: string, logs: LogWriter): Promise<Readable> {
  const task = docker.getTask(taskId) as unknown as { logs(opts: object): Promise<Readable> };
  // Since a little before now: an adopted task (a daemon restart) has older output in the log already.
  const stream = await task.logs({ follow: true, stdout: true, stderr: true, since: Math.floor(Date.now() / 1000) - 10 });
  const out = new PassThrough();
  const err = new PassThrough();
  docker.modem.demuxStream(stream, out, err);
  stream.on('end', () => (out.end(), err.end()));
  stream.on('error', () => undefined);
  logs.attach(out);
  logs.attach(err);
  return stream;
}
