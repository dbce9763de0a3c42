import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A remote Slipway server the CLI talks to over its API. */
export interface Login {
  url: string;
  token: string;
  /** The user the token belongs to, as the server said at login. */
  user: string;
  /** `login --ca FILE`: the private CA's PEM, kept here so the file may move. */
  ca?: string;
  /** `login --insecure`: plain http:// to another host was asked for. */
  insecure?: boolean;
}

/** `$XDG_CONFIG_HOME/slipway/config.json`, else `~/.config/slipway/config.json`. */
export function loginFile(): string {
  const base = process.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'slipway', 'config.json');
}

export function readLogin(): Login | undefined {
  const file = loginFile();
  if (!fs.existsSync(file)) return undefined;
  let parsed: Partial<Login>;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file} is not valid JSON (${(err as Error).message}); fix it, or remove it with \`slipway logout\``);
  }
  if (typeof parsed.url !== 'string' || typeof parsed.token !== 'string')
    throw new Error(`${file} has no url and token; log in again with \`slipway login URL --token TOKEN\``);
  return {
    url: parsed.url,
    token: parsed.token,
    user: String(parsed.user ?? ''),
    ...(typeof parsed.ca === 'string' ? { ca: parsed.ca } : {}),
    ...(parsed.insecure === true ? { insecure: true } : {}),
  };
}

/** The token is a password: the file is 0600 in a 0700 directory, written whole or not at all. */
export function writeLogin(login: Login): string {
  const file = loginFile();
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.chmodSync(path.dirname(file), 0o700);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(login, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
  return file;
}

export function removeLogin(): boolean {
  const file = loginFile();
  if (!fs.existsSync(file)) return false;
  fs.rmSync(file);
  return true;
}
