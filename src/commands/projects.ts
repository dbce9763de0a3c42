import type { Command } from 'commander';
import { addService, createProject, destroyProject, removeService, updateProject, type ProjectDeps } from '../projects/actions.js';
import { projectFor, visibleProjects } from '../projects/lookup.js';
import { out, type CommandContext } from './context.js';
import { ago, table } from './format.js';

/**
 * Projects group apps: each app may be one service of one project. Deleting a
 * project never deletes its apps; it unlinks them.
 */
export function registerProjects(program: Command, ctx: CommandContext): void {
  const deps = (): ProjectDeps => ({ store: ctx.store, layout: ctx.layout, user: ctx.user, settings: ctx.settings });

  program
    .command('projects:create')
    .description('create a project (its name is unique among your projects)')
    .argument('<name>', 'project name: a-z, 0-9 and "-", starting with a letter')
    .option('--description <text>', 'what the project is')
    .action((name: string, o: { description?: string }) => {
      const p = createProject(deps(), { name, description: o.description });
      out(ctx, `-----> Created project ${p.name} (id ${p.id})`);
      out(ctx, `       add an app to it: slipway projects:add ${p.name} APP`);
    });

  program
    .command('projects:list')
    .alias('projects')
    .description('list the projects you can see')
    .action(() => {
      const rows = visibleProjects(ctx.store, ctx.user).map((p) => [
        p.id,
        p.name,
        p.ownerName,
        ctx.store.projects
          .services(p.id)
          .map((s) => s.name)
          .join(', ') || '-',
        p.description,
      ]);
      out(
        ctx,
        rows.length
          ? table(['ID', 'NAME', 'OWNER', 'SERVICES', 'DESCRIPTION'], rows)
          : 'No projects yet. Create one with `slipway projects:create NAME`.',
      );
    });

  program
    .command('projects:info')
    .description('show a project and its services')
    .argument('<project>', 'project name or id')
    .action((ref: string) => {
      const p = projectFor(ctx.store, ctx.user, ref);
      out(ctx, `=== ${p.name}`);
      for (const [k, v] of [
        ['Id', String(p.id)],
        ['Owner', p.ownerName],
        ['Description', p.description || '-'],
        ['Created', ago(p.createdAt)],
      ])
        out(ctx, `${(k + ':').padEnd(13)}${v}`);
      const services = ctx.store.projects.services(p.id);
      out(
        ctx,
        services.length
          ? `\n${table(
              ['ID', 'SERVICE', 'APP'],
              services.map((s) => [s.id, s.name, s.appName]),
            )}`
          : '\nNo services yet.',
      );
    });

  program
    .command('projects:rename')
    .description('rename a project')
    .argument('<project>', 'project name or id')
    .argument('<new-name>')
    .action((ref: string, name: string) => {
      const before = projectFor(ctx.store, ctx.user, ref);
      const p = updateProject(deps(), before, { name });
      out(ctx, `-----> Renamed project ${before.name} to ${p.name}`);
    });

  program
    .command('projects:destroy')
    .description('delete a project; its apps stay, unlinked')
    .argument('<project>', 'project name or id')
    .option('--confirm <project>', 'the project name again; needed when it has services')
    .action((ref: string, o: { confirm?: string }) => {
      const p = projectFor(ctx.store, ctx.user, ref);
      const services = destroyProject(deps(), p, o.confirm);
      out(
        ctx,
        `-----> Deleted project ${p.name}${services.length ? `; apps unlinked, not deleted: ${services.map((s) => s.appName).join(', ')}` : ''}`,
      );
    });

  program
    .command('projects:add')
    .description('make an app a service of a project')
    .argument('<project>', 'project name or id')
    .argument('<app>', 'an app you may use')
    .option('--as <name>', 'the service name (default: the app name)')
    .action(async (ref: string, app: string, o: { as?: string }) => {
      const s = await addService(deps(), projectFor(ctx.store, ctx.user, ref), { name: o.as, app });
      out(ctx, `-----> Added ${s.appName} to ${s.projectName} as service ${s.name} (id ${s.id})`);
    });

  program
    .command('projects:remove')
    .description('remove a service from a project; the app stays')
    .argument('<project>', 'project name or id')
    .argument('<service>', 'service name or id')
    .action((ref: string, service: string) => {
      const s = removeService(deps(), projectFor(ctx.store, ctx.user, ref), service);
      out(ctx, `-----> Removed service ${s.name} from ${s.projectName}; app ${s.appName} is unchanged`);
    });
}
