import fsp from 'node:fs/promises';
import type { Command } from 'commander';
import { requireAdmin } from '../auth/access.js';
import { parsePublicKey } from '../auth/keys.js';
import { checkUserName } from '../auth/names.js';
import { newToken } from '../auth/tokens.js';
import { SlipwayError, notFound } from '../errors.js';
import type { User } from '../store/index.js';
import { out, type CommandContext } from './context.js';
import { ago, table } from './format.js';

/** The user a command acts on: yourself, or anyone when you are an admin. */
function subject(ctx: CommandContext, name?: string): User {
  if (!name || name === ctx.user.name) return ctx.user;
  requireAdmin(ctx.user, "manage other users' keys and tokens");
  const u = ctx.store.users.byName(checkUserName(name));
  if (!u) throw notFound(`user "${name}"`, 'list users with `slipway users:list`');
  return u;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) {
    text += chunk.toString();
    if (text.length > 64 * 1024) throw new SlipwayError('too_large', 'the public key on stdin is larger than 64 KiB', { status: 413 });
  }
  return text;
}

export function registerUsers(program: Command, ctx: CommandContext): void {
  program
    .command('users:add')
    .description('add a user (admins only)')
    .argument('<name>')
    .option('--admin', 'make the user an admin')
    .action((name: string, o: { admin?: boolean }) => {
      requireAdmin(ctx.user, 'add users');
      checkUserName(name);
      if (ctx.store.users.byName(name)) throw new SlipwayError('user_exists', `user "${name}" already exists`, { status: 409 });
      const u = ctx.store.users.add(name, o.admin ? 'admin' : 'member');
      out(ctx, `-----> Added ${u.role} ${u.name}`);
      out(ctx, `       give them a key: slipway keys:add --user ${u.name} KEY.pub`);
      out(ctx, `       or a token:      slipway tokens:create --user ${u.name}`);
    });

  program
    .command('users:list')
    .alias('users')
    .description('list users (admins only)')
    .action(() => {
      requireAdmin(ctx.user, 'list users');
      const rows = ctx.store.users.list().map((u) => [u.name, u.role, ctx.store.users.keys(u.id).length, ago(u.createdAt)]);
      out(ctx, table(['NAME', 'ROLE', 'KEYS', 'CREATED'], rows));
    });

  program
    .command('keys:add')
    .description('add an SSH public key (from FILE, or stdin: ssh slipway@host keys:add < key.pub)')
    .argument('[file]', 'public key file, e.g. ~/.ssh/id_ed25519.pub')
    .option('--user <name>', 'the user the key belongs to (admins only)')
    .action(async (file: string | undefined, o: { user?: string }) => {
      const user = subject(ctx, o.user);
      if (file && file !== '-' && !ctx.local) {
        throw new SlipwayError('stdin_required', 'over SSH the key is read from stdin', { hint: 'ssh slipway@host keys:add < ~/.ssh/id_ed25519.pub' });
      }
      const text = file && file !== '-' ? await fsp.readFile(file, 'utf8').catch(() => {
        throw new SlipwayError('no_file', `cannot read ${file}`, { hint: 'pass the path of a .pub file' });
      }) : await readAll(ctx.io.stdin);
      const key = parsePublicKey(text);
      const existing = ctx.store.users.keyByFingerprint(key.fingerprint);
      if (existing) throw new SlipwayError('key_exists', `this key is already registered (to ${existing.userName === user.name ? 'this user' : 'another user'})`, { status: 409 });
      ctx.store.users.addKey(user.id, key.fingerprint, key.line, key.comment);
      out(ctx, `-----> Added key ${key.fingerprint} for ${user.name}`);
    });

  program
    .command('keys:list')
    .alias('keys')
    .description('list SSH keys')
    .option('--user <name>', 'whose keys (admins only); --all for everyone')
    .option('--all', 'every user (admins only)')
    .action((o: { user?: string; all?: boolean }) => {
      if (o.all) requireAdmin(ctx.user, "list everyone's keys");
      const keys = ctx.store.users.keys(o.all ? undefined : subject(ctx, o.user).id);
      out(ctx, keys.length ? table(['ID', 'USER', 'FINGERPRINT', 'COMMENT', 'ADDED'], keys.map((k) => [k.id, k.userName, k.fingerprint, k.comment, ago(k.createdAt)])) : 'No keys.');
    });

  program
    .command('keys:remove')
    .description('remove an SSH key by id or fingerprint')
    .argument('<key>', 'id or SHA256:… fingerprint from keys:list')
    .action((ref: string) => {
      const key = ctx.store.users.keys().find((k) => String(k.id) === ref || k.fingerprint === ref);
      if (!key || (key.userId !== ctx.user.id && ctx.user.role !== 'admin')) throw notFound(`key ${ref}`, 'list keys with `slipway keys:list`');
      ctx.store.users.removeKey(key.id);
      out(ctx, `-----> Removed key ${key.fingerprint} of ${key.userName}`);
    });

  program
    .command('tokens:create')
    .description('create an API token (printed once; use it as the password for git over HTTP)')
    .option('--user <name>', 'the user the token belongs to (admins only)')
    .option('--name <name>', 'a label for the token', 'cli')
    .action((o: { user?: string; name: string }) => {
      const user = subject(ctx, o.user);
      const { token, hash } = newToken();
      ctx.store.users.addToken(user.id, o.name.slice(0, 100), hash);
      out(ctx, token);
    });
}
