import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { tmpdir } from '../e2e/harness.js';

// Runs in its own process, so a test that blocks its event loop (spawnSync) never stalls the engine.
const SCRIPT = `
const net = require('node:net');
const [target, listen] = process.argv.slice(1);
const open = new Set();
// Half-open both ways: \`run\` ends stdin with a half-close and still reads the output.
const server = net.createServer({ allowHalfOpen: true }, (client) => {
  const engine = net.connect({ path: target, allowHalfOpen: true });
  const drop = () => { client.destroy(); engine.destroy(); open.delete(client); open.delete(engine); };
  for (const s of [client, engine]) { open.add(s); s.on('error', drop); s.on('close', drop); }
  client.pipe(engine);
  engine.pipe(client);
});
server.listen(listen, () => process.stdout.write('ready\\n'));
process.on('SIGTERM', () => { server.close(() => process.exit(0)); for (const s of open) s.destroy(); });
`;

/**
 * A stand-in for the Docker engine's socket: a unix socket piped to the real
 * one. Closing it (every connection with it, the socket file gone) makes the
 * engine unreachable exactly as a stopped dockerd does, without stopping the
 * dockerd other tests share.
 */
export class EngineProxy {
  private proc?: ChildProcess;
  readonly socket = path.join(tmpdir('engine'), 'docker.sock');

  /** The value for DOCKER_HOST. */
  get dockerHost(): string {
    return `unix://${this.socket}`;
  }

  /** True while the socket answers (between `open` and `close`). */
  get running(): boolean {
    return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Starts answering; a no-op when it already does, so each test can ask for the engine it needs. */
  async open(target = '/var/run/docker.sock'): Promise<void> {
    if (this.running) return;
    const proc = spawn(process.execPath, ['-e', SCRIPT, target, this.socket], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.proc = proc;
    await new Promise<void>((resolve, reject) => {
      proc.stdout!.once('data', () => resolve());
      proc.once('exit', (code) => reject(new Error(`engine proxy exited (${code}) before it listened`)));
    });
  }

  async close(): Promise<void> {
    const proc = this.proc;
    if (!proc || !this.running) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
  }
}
