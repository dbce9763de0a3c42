import { SHARED_USER_WARNING } from '../guest/users.js';
import fsp from 'node:fs/promises';
import type { Command } from 'commander';
import { requireAdmin } from '../auth/access.js';
import { parsePublicKey } from '../auth/keys.js';
import { checkUserName } from '../auth/names.js';
import { checkPassword, hashPassword } from '../auth/passwords.js';
import { SlipwayError, notFound } from '../errors.js';
import type { User } from '../store/index.js';
import { out, type CommandContext } from './context.js';
import { ago, table } from './format.js';

/** The user a command acts on: yourself, or anyone when you are an admin. */
export function subject(ctx: CommandContext, name?: string): User {
  if (!name || name === ctx.user.name) return ctx.user;
  requireAdmin(ctx.user, "manage other users' keys and tokens");
  const u = ctx.store.users.byName(checkUserName(name));
  if (!u) throw notFound(`user "${name}"`, 'list users with `slipway users:list`');
  return u;
}

/**
 * Everything on stdin, up to 64 KiB. Events rather than `for await`: the
 * async iterator destroys the stream when it ends, and over SSH the stream is
 * the channel itself, which would then close before the answer is sent.
 */
export function readAll(stream: NodeJS.ReadableStream, what = 'the public key'): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const done = (err?: unknown) => {
      stream.off('data', onData).off('end', onEnd).off('error', done);
      if (err) {
        stream.pause();
        reject(err);
      } else resolve(text);
    };
    const onData = (chunk: Buffer | string) => {
      text += chunk.toString();
      if (text.length > 64 * 1024) done(new SlipwayError('too_large', `${what} on stdin is larger than 64 KiB`, { status: 413 }));
    };
    const onEnd = () => done();
    stream.on('data', onData).on('end', onEnd).on('error', done);
    stream.resume();
  });
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
      if (ctx.platform && !ctx.platform.services.guestHost) ctx.io.stderr.write(` !     ${SHARED_USER_WARNING}\n`);
    });

  program
    .command('users:list')
    .alias('users')
    .description('list users (admins only)')
    .action(() => {
      requireAdmin(ctx.user, 'list users');
      const rows = ctx.store.users
        .list()
        .map((u) => [
          u.name,
          u.role,
          ctx.store.users.keys(u.id).length,
          ctx.store.users.passwordHash(u.id) ? 'yes' : 'no',
          ago(u.createdAt),
        ]);
      out(ctx, table(['NAME', 'ROLE', 'KEYS', 'PASSWORD', 'CREATED'], rows));
    });

  program
    .command('users:remove')
    .description('remove a user with their keys and tokens (admins only; they must own no apps)')
    .argument('<name>')
    .action((name: string) => {
      requireAdmin(ctx.user, 'remove users');
      const u = ctx.store.users.byName(checkUserName(name));
      if (!u) throw notFound(`user "${name}"`, 'list users with `slipway users:list`');
      if (u.role === 'admin' && ctx.store.users.list().filter((x) => x.role === 'admin').length === 1) {
        throw new SlipwayError('last_admin', `${u.name} is the last admin; a server without an admin cannot be managed`, {
          status: 409,
          hint: 'make another admin first: slipway users:add NAME --admin',
        });
      }
      // Apps are never deleted as a side effect: their owner must be decided on first.
      const owned = ctx.store.apps
        .list()
        .filter((a) => a.ownerId === u.id)
        .map((a) => a.name);
      if (owned.length) {
        throw new SlipwayError('user_owns_apps', `${u.name} still owns ${owned.join(', ')}`, {
          status: 409,
          hint: `hand each app over with \`slipway apps:transfer ${owned[0]} NEW_OWNER\`, or destroy it, then remove ${u.name}`,
        });
      }
      ctx.store.users.remove(u.id);
      out(ctx, `-----> Removed ${u.role} ${u.name}, their SSH keys, API tokens and app access`);
    });

  program
    .command('users:passwd')
    .description('set your password for `POST /api/v1/login` (read from stdin, never from the command line)')
    .argument('[name]', 'another user (admins only)')
    .option('--remove', 'remove the password: tokens and SSH keys only')
    .addHelpText(
      'after',
      "\nExamples:\n  printf '%s' 'correct horse battery' | slipway users:passwd\n  ssh slipway@HOST users:passwd < password.txt",
    )
    .action(async (name: string | undefined, o: { remove?: boolean }) => {
      const user = subject(ctx, name);
      if (o.remove) {
        ctx.store.users.setPasswordHash(user.id, null);
        return void out(ctx, `-----> Removed the password of ${user.name}`);
      }
      // A remote terminal (ssh -t) would echo every key typed.
      if (ctx.io.tty)
        throw new SlipwayError('stdin_required', 'a password typed into `ssh -t` would be echoed', {
          hint: 'pipe it instead: ssh slipway@HOST users:passwd < password.txt',
        });
      // One line; a trailing newline from echo or a file is not part of the password.
      const password = (await readAll(ctx.io.stdin, 'the password')).replace(/\r?\n$/, '');
      if (!password) {
        throw new SlipwayError('stdin_required', 'no password on stdin', {
          hint: "pipe it in, so it stays out of the process list: printf '%s' 'PASSWORD' | slipway users:passwd",
        });
      }
      ctx.store.users.setPasswordHash(user.id, await hashPassword(checkPassword(password)));
      out(ctx, `-----> Set the password of ${user.name}; log in with POST /api/v1/login {"user": "${user.name}", "password": …}`);
    });

  program
    .command('keys:add')
    .description('add an SSH public key (from FILE, or stdin: ssh slipway@host keys:add < key.pub)')
    .argument('[file]', 'public key file, e.g. ~/.ssh/id_ed25519.pub')
    .option('--user <name>', 'the user the key belongs to (admins only)')
    .action(async (file: string | undefined, o: { user?: string }) => {
      const user = subject(ctx, o.user);
      if (file && file !== '-' && !ctx.local) {
        throw new SlipwayError('stdin_required', 'over SSH the key is read from stdin', {
          hint: 'ssh slipway@host keys:add < ~/.ssh/id_ed25519.pub',
        });
      }
      const text =
        file && file !== '-'
          ? await fsp.readFile(file, 'utf8').catch(() => {
              throw new SlipwayError('no_file', `cannot read ${file}`, { hint: 'pass the path of a .pub file' });
            })
          : await readAll(ctx.io.stdin);
      const key = parsePublicKey(text);
      const existing = ctx.store.users.keyByFingerprint(key.fingerprint);
      if (existing)
        throw new SlipwayError(
          'key_exists',
          `this key is already registered (to ${existing.userName === user.name ? 'this user' : 'another user'})`,
          { status: 409 },
        );
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
      out(
        ctx,
        keys.length
          ? table(
              ['ID', 'USER', 'FINGERPRINT', 'COMMENT', 'ADDED'],
              keys.map((k) => [k.id, k.userName, k.fingerprint, k.comment, ago(k.createdAt)]),
            )
          : 'No keys.',
      );
    });

  program
    .command('keys:remove')
    .description('remove an SSH key by id or fingerprint')
    .argument('<key>', 'id or SHA256:… fingerprint from keys:list')
    .action((ref: string) => {
      const key = ctx.store.users.keys().find((k) => String(k.id) === ref || k.fingerprint === ref);
      if (!key || (key.userId !== ctx.user.id && ctx.user.role !== 'admin'))
        throw notFound(`key ${ref}`, 'list keys with `slipway keys:list`');
      ctx.store.users.removeKey(key.id);
      out(ctx, `-----> Removed key ${key.fingerprint} of ${key.userName}`);
    });
}
