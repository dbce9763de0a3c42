import fs from 'node:fs';
import readline from 'node:readline';
import { Readable } from 'node:stream';
import { certFilesInput } from './cert-files.js';
import type { RemoteTarget } from './target.js';
import { send } from './transport.js';

/** An API answer that is not a success, as one line: the server's message and hint. */
export async function apiError(res: Response, url: string): Promise<Error> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { message?: string; hint?: string };
    if (body.message) return new Error(body.hint ? `${body.message} (${body.hint})` : body.message);
  } catch {
    /* not JSON: not a Slipway API */
  }
  return new Error(`${url} answered ${res.status} ${res.statusText}; is it a Slipway server's API address?`);
}

/** A request with the token; refused before connecting when the transport would expose it (transport.ts). */
export function apiFetch(
  target: Pick<RemoteTarget, 'url' | 'token' | 'transport'>,
  path: string,
  init: { method?: string; body?: string } = {},
): Promise<Response> {
  return send(
    `${target.url}${path}`,
    {
      ...init,
      headers: { authorization: `Bearer ${target.token}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
    },
    target.transport,
  );
}

/**
 * Runs argv on the remote server (`POST /api/v1/cli`) and relays its NDJSON
 * output: the same command, the same output and exit code as on the host.
 */
export async function runRemote(target: RemoteTarget, argv: string[]): Promise<number> {
  if (argv[0] === 'enter')
    throw new Error(
      `\`enter\` needs a terminal, which the remote CLI cannot give; use ssh -t slipway@HOST enter ${argv.slice(1).join(' ')}`.trimEnd(),
    );
  const { args, stdin } = await inputFor(argv);
  const res = await apiFetch(target, '/api/v1/cli', {
    method: 'POST',
    body: JSON.stringify({ argv: args, ...(stdin === undefined ? {} : { stdin }) }),
  });
  if (!res.ok) throw await apiError(res, target.url);
  let code = 1;
  const lines = readline.createInterface({ input: Readable.fromWeb(res.body as never), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line) continue;
    const msg = JSON.parse(line) as { out?: string; err?: string; exit?: number };
    if (msg.out !== undefined) process.stdout.write(msg.out);
    if (msg.err !== undefined) process.stderr.write(msg.err);
    if (msg.exit !== undefined) code = msg.exit;
  }
  return code;
}

/**
 * Files named on the command line are the client's: `keys:add FILE` sends the
 * key's text as stdin. Commands that read stdin (`keys:add -`, `run`) get
 * ours when it is not a terminal.
 */
async function inputFor(argv: string[]): Promise<{ args: string[]; stdin?: string }> {
  if (argv[0] === 'keys:add') {
    const file = argv.slice(1).find((a, i, rest) => !a.startsWith('-') && rest[i - 1] !== '--user');
    if (file && file !== '-') {
      if (!fs.existsSync(file)) throw new Error(`cannot read ${file}; pass the path of a .pub file`);
      return { args: argv.map((a) => (a === file ? '-' : a)), stdin: fs.readFileSync(file, 'utf8') };
    }
  }
  const certFiles = certFilesInput(argv);
  if (certFiles) return { args: certFiles.args, stdin: certFiles.stdin };
  if ((argv[0] === 'keys:add' || argv[0] === 'run' || argv[0] === 'certs:add') && !process.stdin.isTTY)
    return { args: argv, stdin: await readStdin() };
  return { args: argv };
}

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return text;
}
