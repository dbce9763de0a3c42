import fs from 'node:fs';
import net from 'node:net';
import readline from 'node:readline';
import { Readable } from 'node:stream';
import type { ServerSettings } from '../commands/context.js';
import { Layout } from '../store/layout.js';
import { promptsForPassword, readSecret } from './secret-prompt.js';
import { certFilesInput } from './cert-files.js';

/**
 * Host-side commands. With the daemon up they go through its control socket
 * (so rollbacks, logs and deploys reach the live runtime); with it down, the
 * commands that only need the store run right here, on the same SQLite file.
 */
export async function runHostCommand(argv: string[]): Promise<number> {
  const layout = new Layout(Layout.defaultHome());
  const keyFile = localKeyFile(argv);
  const certFiles = certFilesInput(argv);
  if (certFiles) argv = certFiles.args;
  // The daemon's working directory is not ours: send the key's content, not its path.
  const input = certFiles
    ? certFiles.stdin
    : keyFile
      ? fs.readFileSync(keyFile, 'utf8')
      : promptsForPassword(argv)
        ? `${await readSecret('Password (not shown): ')}\n`
        : undefined;
  const viaSocket = await tryControlSocket(layout.controlSocket, keyFile ? argv.map((a) => (a === keyFile ? '-' : a)) : argv, input);
  if (viaSocket !== undefined) return viaSocket;
  return runOffline(layout, argv, input);
}

/** The daemon is down: the command program runs here, on the store (loaded only now: it is most of the CLI's start-up). */
async function runOffline(layout: Layout, argv: string[], input: string | undefined): Promise<number> {
  const [{ runCommand }, { Store }, settings] = await Promise.all([
    import('../commands/program.js'),
    import('../store/index.js'),
    offlineSettings(),
  ]);
  const io = {
    stdin: input !== undefined ? Readable.from([input]) : process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    tty: false,
  };
  if (!fs.existsSync(layout.db) && (argv[0] === 'help' || argv.includes('--help'))) {
    // Help needs no server: describe the commands from an empty in-memory store.
    const store = Store.open(':memory:');
    try {
      const user = store.users.add('admin', 'admin');
      return await runCommand({ store, layout, settings, user, io, local: true }, argv);
    } finally {
      store.close();
    }
  }
  if (!fs.existsSync(layout.db)) {
    process.stderr.write(` !     No Slipway server has been set up in ${layout.home} (run \`slipway server\` once, or set SLIPWAY_HOME)\n`);
    return 1;
  }
  const store = Store.open(layout.db);
  try {
    const admin = store.users.list().find((u) => u.role === 'admin');
    if (!admin) throw new Error('no admin user in the store');
    return await runCommand({ store, layout, settings, user: admin, io, local: true }, argv);
  } finally {
    store.close();
  }
}

/** What host commands assume while the daemon is down: the server's defaults, and the same environment variables `slipway server` reads. */
async function offlineSettings(): Promise<ServerSettings> {
  const [{ SERVER_DEFAULTS }, { BUILTIN_BUILDPACKS }, { DRIVERS }] = await Promise.all([
    import('../daemon/defaults.js'),
    import('../paths.js'),
    import('../runtime/select.js'),
  ]);
  const e = process.env;
  const D = SERVER_DEFAULTS;
  return {
    domain: e.SLIPWAY_DOMAIN ?? D.domain,
    apiDomain: e.SLIPWAY_API_DOMAIN || D.apiDomain,
    routerPort: Number(e.SLIPWAY_ROUTER_PORT ?? D.routerPort),
    sshPort: Number(e.SLIPWAY_SSH_PORT ?? D.sshPort),
    httpPort: Number(e.SLIPWAY_HTTP_PORT ?? D.httpPort),
    // The daemon defaults to its host name; without it, only what the operator set is known.
    publicHost: e.SLIPWAY_PUBLIC_HOST ?? 'localhost',
    buildpacksDir: BUILTIN_BUILDPACKS,
    keepReleases: D.keepReleases,
    keepBackups: D.keepBackups,
    healthTimeoutMs: D.healthTimeoutMs,
    stopGraceMs: D.stopGraceMs,
    defaultDriver: (DRIVERS as readonly string[]).includes(e.SLIPWAY_DRIVER ?? '')
      ? (e.SLIPWAY_DRIVER as ServerSettings['defaultDriver'])
      : D.driver,
  };
}

/** Resolves with the exit code, or undefined when no daemon answers on the socket. */
function localKeyFile(argv: string[]): string | undefined {
  if (argv[0] !== 'keys:add') return undefined;
  const rest = argv.slice(1).filter((a, i, all) => !a.startsWith('-') && all[i - 1] !== '--user');
  return rest[0] && rest[0] !== '-' && fs.existsSync(rest[0]) ? rest[0] : undefined;
}

function tryControlSocket(file: string, argv: string[], input?: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    if (!fs.existsSync(file)) return resolve(undefined);
    const socket = net.connect(file);
    let connected = false;
    /** The daemon's answer: once it came, nothing that happens to the socket after changes it. */
    let code: number | undefined;
    // The daemon ends the connection as soon as the command is done; stdin may still be
    // ending (a write then fails): what is left to send after that has nobody to read it.
    const send = (msg: object) => {
      if (socket.writable) socket.write(JSON.stringify(msg) + '\n');
    };
    let broke = false;
    const unanswered = (why: string) => {
      if (broke) return;
      broke = true;
      process.stderr.write(
        ` !     The Slipway server ${why} before the command ended; its outcome is unknown (check with \`slipway audit\`).\n`,
      );
    };
    socket.on('error', (err) => {
      if (!connected) return resolve(undefined);
      if (code !== undefined) return resolve(code);
      unanswered(`connection broke (${(err as NodeJS.ErrnoException).code ?? err.message})`);
      resolve(1);
    });
    socket.on('connect', () => {
      connected = true;
      send({ type: 'command', argv });
      if (input !== undefined) {
        send({ type: 'stdin', data: input });
        send({ type: 'stdin-end' });
      } else if (process.stdin.isTTY) send({ type: 'stdin-end' });
      else {
        process.stdin.on('data', (d) => send({ type: 'stdin', data: d.toString() }));
        process.stdin.on('end', () => send({ type: 'stdin-end' }));
      }
    });
    readline.createInterface({ input: socket, crlfDelay: Infinity }).on('line', (line) => {
      const msg = JSON.parse(line);
      if (msg.type === 'stdout') process.stdout.write(msg.data);
      else if (msg.type === 'stderr') process.stderr.write(msg.data);
      else if (msg.type === 'exit') code = msg.code;
    });
    socket.on('close', () => {
      process.stdin.pause();
      if (!connected) return;
      if (code === undefined) unanswered('closed the connection');
      resolve(code ?? 1);
    });
  });
}
