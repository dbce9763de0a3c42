import { expect } from 'chai';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { BIN } from '../e2e/harness.js';

/**
 * The host CLI against its daemon's control socket, with the daemon's side
 * played by a socket that answers as the test says: what the CLI makes of an
 * answer that ends the connection at once, and of a daemon that goes away.
 */
describe('cli: the control-socket client', function () {
  this.timeout(30_000);
  let home: string;
  let server: net.Server | undefined;

  beforeEach(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-control-client-'));
  });
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
    fs.rmSync(home, { recursive: true, force: true });
  });

  /** A daemon that runs `answer` on each command it receives. */
  async function daemon(answer: (socket: net.Socket, argv: string[]) => void): Promise<void> {
    server = net.createServer((socket) => {
      socket.on('error', () => undefined);
      readline.createInterface({ input: socket }).once('line', (line) => answer(socket, JSON.parse(line).argv));
    });
    await new Promise<void>((resolve) => server!.listen(path.join(home, 'control.sock'), resolve));
  }

  /** `slipway ARGS` on this home, its stdin a pipe that ends `stdinEndsAfterMs` after the start. */
  function cli(args: string[], stdinEndsAfterMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const env = { ...process.env, SLIPWAY_HOME: home, HOME: home, SLIPWAY_REMOTE: '0' };
    const child = spawn(BIN, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    setTimeout(() => child.stdin.end(), stdinEndsAfterMs);
    return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  }

  it("keeps the daemon's exit code when its stdin ends after the daemon already closed", async () => {
    await daemon((socket, argv) => {
      socket.write(JSON.stringify({ type: 'stdout', data: `ran ${argv.join(' ')}\n` }) + '\n');
      socket.write(JSON.stringify({ type: 'exit', code: 3 }) + '\n');
      socket.end();
    });
    for (const late of [0, 1, 5, 50, 300]) {
      const r = await cli(['apps:info', 'web'], late);
      expect(r, `stdin ending after ${late} ms`).to.include({ code: 3, stdout: 'ran apps:info web\n', stderr: '' });
    }
  });

  it('says so in one line when the daemon goes away before it answered, and exits 1', async () => {
    await daemon((socket) => {
      socket.write(JSON.stringify({ type: 'stdout', data: 'half\n' }) + '\n');
      socket.end();
    });
    const r = await cli(['apps'], 0);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.equal('half\n');
    expect(r.stderr).to.match(/^ ! {5}The Slipway server closed the connection before the command ended; its outcome is unknown/);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
  });
});
