// Shared by the hooks: read git's ref lines from stdin, send them to the
// daemon, print what it answers, exit with its code. Plain JS so hooks start
// fast and need no build step.
import net from 'node:net';
import readline from 'node:readline';

export async function runHook(hook) {
  const socketPath = process.env.SLIPWAY_CONTROL_SOCKET;
  const pushId = process.env.SLIPWAY_PUSH_ID;
  if (!socketPath || !pushId) {
    process.stderr.write(
      ' !     Push through Slipway (ssh://slipway@HOST:2222/APP.git or http://HOST:7000/git/APP.git), not to this repository directly.\n',
    );
    process.exit(1);
  }
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  const refs = input
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [oldrev, newrev, ref] = l.split(' ');
      return { oldrev, newrev, ref };
    });
  const socket = net.connect(socketPath);
  socket.on('error', (err) => {
    process.stderr.write(` !     Cannot reach the Slipway server (${err.code || err.message}); is it running?\n`);
    process.exit(1);
  });
  // In pre-receive the pushed objects are still in git's quarantine: pass its
  // location so an atomic deploy can read the commit before the refs move.
  const gitEnv = {};
  for (const k of ['GIT_QUARANTINE_PATH', 'GIT_OBJECT_DIRECTORY', 'GIT_ALTERNATE_OBJECT_DIRECTORIES'])
    if (process.env[k]) gitEnv[k] = process.env[k];
  socket.on('connect', () => socket.write(JSON.stringify({ type: 'hook', hook, pushId, refs, gitEnv }) + '\n'));
  let exitCode = 1;
  readline.createInterface({ input: socket, crlfDelay: Infinity }).on('line', (line) => {
    const msg = JSON.parse(line);
    if (msg.type === 'stdout' || msg.type === 'stderr') process.stderr.write(msg.data);
    else if (msg.type === 'exit') exitCode = msg.code;
  });
  socket.on('close', () => process.exit(exitCode));
}
