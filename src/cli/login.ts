import { Command } from 'commander';
import { loginFile, readLogin, removeLogin, writeLogin } from './login-file.js';
import { apiError, apiFetch } from './remote.js';
import { baseUrl, readCa, remoteTarget } from './target.js';
import { checkTransport, send, type Transport } from './transport.js';

/**
 * `slipway login URL --token T | --user NAME`, `logout`, `whoami`: the
 * client's side of the remote CLI. A login is checked against the server
 * before anything is stored, so a wrong token leaves no file behind.
 */
export function loginCommands(): Command {
  const program = new Command('slipway').exitOverride();
  program
    .command('login')
    .description('use a remote Slipway server from here: every command then goes to its API')
    .argument('<url>', "the server's API address, e.g. http://slipway.example.com:7000")
    .option('--token <token>', 'an API token (slipway tokens:create on the server)')
    .option('--user <name>', 'log in with a password instead; it is read from stdin')
    .option('--ca <file>', "trust this CA's certificates too (a private CA); kept with the login")
    .option('--insecure', 'allow plain http:// to a host other than this one (the token travels in clear); kept with the login')
    .action(async (rawUrl: string, o: { token?: string; user?: string; ca?: string; insecure?: boolean }) => {
      const url = baseUrl(rawUrl);
      if (!o.token === !o.user) throw new Error('give either --token TOKEN or --user NAME (the password is then read from stdin)');
      const transport: Transport = { ca: o.ca ? readCa(o.ca) : undefined, insecure: o.insecure === true };
      // Before a password is even asked for.
      checkTransport(url, transport, o.user ? 'a password' : 'a token');
      const token = o.token ?? (await passwordLogin(url, o.user!, transport));
      const res = await apiFetch({ url, token, transport }, '/api/v1/cli');
      if (!res.ok) throw await apiError(res, url);
      const who = (await res.json()) as { user?: { name?: string; role?: string } };
      if (!who.user?.name) throw new Error(`${url} did not say who the token belongs to; is it a Slipway server of this version?`);
      const file = writeLogin({
        url,
        token,
        user: who.user.name,
        ...(transport.ca ? { ca: transport.ca } : {}),
        ...(transport.insecure ? { insecure: true } : {}),
      });
      process.stdout.write(`-----> Logged in to ${url} as ${who.user.name} (${who.user.role}); saved in ${file}\n`);
      process.stdout.write('       Every slipway command now runs there. `slipway logout` goes back to the local server.\n');
    });
  program
    .command('logout')
    .description('forget the stored login: commands go to the local server again')
    .action(() => {
      const login = readLogin();
      process.stdout.write(
        removeLogin() ? `-----> Logged out of ${login?.url ?? 'the remote server'}\n` : `Not logged in (${loginFile()} does not exist)\n`,
      );
    });
  program
    .command('whoami')
    .description('say which server commands go to, and as whom')
    .action(async () => {
      const target = remoteTarget();
      if (!target)
        return void process.stdout.write('admin on the local server (through its control socket); not logged in to a remote one\n');
      const res = await apiFetch(target, '/api/v1/cli');
      if (!res.ok) throw await apiError(res, target.url);
      const who = (await res.json()) as { user: { name: string; role: string } };
      process.stdout.write(`${who.user.name} (${who.user.role}) on ${target.url} (from ${target.from})\n`);
    });
  return program;
}

/** POST /api/v1/login {user, password} → {token}: the password is read from stdin, without echo on a terminal. */
async function passwordLogin(url: string, user: string, transport: Transport): Promise<string> {
  const password = await readPassword(`Password for ${user} at ${url}: `);
  const res = await send(
    `${url}/api/v1/login`,
    { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, password }) },
    transport,
  );
  if (!res.ok) throw await apiError(res, url);
  const body = (await res.json()) as { token?: string };
  if (!body.token) throw new Error(`${url} answered the login without a token`);
  return body.token;
}

async function readPassword(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    let text = '';
    for await (const chunk of stdin) text += chunk;
    return text.replace(/\r?\n$/, '');
  }
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    let text = '';
    const done = (fn: () => void) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      fn();
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done(() => resolve(text));
        if (ch === '\u0003') return done(() => reject(new Error('interrupted')));
        if (ch === '\u007f') text = text.slice(0, -1);
        else text += ch;
      }
    };
    stdin.on('data', onData);
    stdin.resume();
  });
}
