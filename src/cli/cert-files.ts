import fs from 'node:fs';

/**
 * `certs:add APP CERT KEY` from the host CLI or the remote CLI: the files
 * are the caller's (the daemon's working directory, or another machine, is
 * not), so they are read here and sent as stdin to `certs:add APP -`.
 * Undefined when the command reads stdin anyway, or is another command.
 */
export function certFilesInput(argv: string[]): { args: string[]; stdin: string } | undefined {
  if (argv[0] !== 'certs:add') return undefined;
  const [app, cert, key, ...rest] = argv.slice(1).filter((a) => !a.startsWith('-') || a === '-');
  if (!app || !cert || cert === '-' || rest.length) return undefined;
  const read = (file: string | undefined, what: string) => {
    if (!file) throw new Error(`give the key file too: slipway certs:add ${app} ${cert} KEY.pem`);
    try {
      return fs.readFileSync(file, 'utf8');
    } catch {
      throw new Error(`cannot read ${file}; pass the path of the ${what} (PEM)`);
    }
  };
  return { args: ['certs:add', app, '-'], stdin: `${read(cert, 'certificate file')}\n${read(key, 'private key file')}` };
}
