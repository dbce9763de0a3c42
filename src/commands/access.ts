import type { Command } from 'commander';
import { appFor, relationTo } from '../auth/access.js';
import { checkUserName } from '../auth/names.js';
import { SlipwayError, notFound } from '../errors.js';
import type { User } from '../store/index.js';
import { out, type CommandContext } from './context.js';
import { ago, table } from './format.js';

function userNamed(ctx: CommandContext, name: string): User {
  const u = ctx.store.users.byName(checkUserName(name));
  if (!u) throw notFound(`user "${name}"`, 'ask an admin for the exact user name (`slipway users:list`)');
  return u;
}

/**
 * Sharing an app: its owner (or an admin) lets collaborators use it — push,
 * config, deploy, run — and may hand it to another user. Only `manage`
 * (owner, admin) changes who that is; a collaborator may leave on their own.
 */
export function registerAccess(program: Command, ctx: CommandContext): void {
  program
    .command('access')
    .description('list who may use an app: its owner and collaborators (admins may use every app)')
    .argument('<app>')
    .action((name: string) => {
      const app = appFor(ctx.store, ctx.user, name);
      const rows: Array<Array<string>> = [[app.ownerName, 'owner', '', ago(app.createdAt)]];
      for (const c of ctx.store.collaborators.list(app.id)) rows.push([c.userName, 'collaborator', c.addedBy, ago(c.createdAt)]);
      out(ctx, `=== ${app.name} access`);
      out(ctx, table(['USER', 'ROLE', 'ADDED BY', 'SINCE'], rows));
    });

  program
    .command('access:add')
    .description('let a user push to and change an app (owner or admin)')
    .argument('<app>')
    .argument('<user>')
    .action((name: string, userName: string) => {
      const app = appFor(ctx.store, ctx.user, name, 'manage');
      const u = userNamed(ctx, userName);
      if (u.id === app.ownerId) throw new SlipwayError('already_owner', `${u.name} owns ${app.name} already`, { status: 409 });
      if (!ctx.store.collaborators.add(app.id, u.id, ctx.user.name))
        return void out(ctx, `-----> ${u.name} already collaborates on ${app.name}`);
      out(ctx, `-----> ${u.name} may now use ${app.name} (remove with \`slipway access:remove ${app.name} ${u.name}\`)`);
    });

  program
    .command('access:remove')
    .description("take a collaborator's access away (owner or admin; a collaborator may remove themselves)")
    .argument('<app>')
    .argument('<user>')
    .action((name: string, userName: string) => {
      const leaving = userName === ctx.user.name;
      const app = appFor(ctx.store, ctx.user, name, leaving ? 'use' : 'manage');
      const u = userNamed(ctx, userName);
      if (u.id === app.ownerId) {
        throw new SlipwayError('is_owner', `${u.name} owns ${app.name}; an owner cannot be removed`, {
          status: 409,
          hint: `hand it over first: slipway apps:transfer ${app.name} NEW_OWNER`,
        });
      }
      if (!ctx.store.collaborators.remove(app.id, u.id))
        throw notFound(`collaborator ${u.name} of ${app.name}`, `list them with \`slipway access ${app.name}\``);
      out(ctx, `-----> ${u.name} may no longer use ${app.name}`);
    });

  program
    .command('apps:transfer')
    .description('make another user the owner of an app (owner or admin); the old owner stays a collaborator')
    .argument('<app>')
    .argument('<user>', 'the new owner')
    .action((name: string, userName: string) => {
      const app = appFor(ctx.store, ctx.user, name, 'manage');
      const u = userNamed(ctx, userName);
      if (u.id === app.ownerId) throw new SlipwayError('already_owner', `${u.name} owns ${app.name} already`, { status: 409 });
      const previous = app.ownerId;
      ctx.store.apps.transfer(app.id, u.id);
      // Heroku's rule: handing an app over does not lock its old owner out; access:remove does that.
      ctx.store.collaborators.add(app.id, previous, ctx.user.name);
      out(
        ctx,
        `-----> ${u.name} now owns ${app.name}; ${app.ownerName} stays a collaborator (\`slipway access:remove ${app.name} ${app.ownerName}\` to end that)`,
      );
      if (relationTo(ctx.user, ctx.store.apps.byId(app.id)!) === 'collaborator') out(ctx, '       you are now a collaborator on it');
    });
}
