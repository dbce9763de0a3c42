import fsp from 'node:fs/promises';
import type { Command } from 'commander';
import { appFor, visibleApps } from '../auth/access.js';
import { isReservedAppName } from '../auth/hosts.js';
import { checkAppName } from '../auth/names.js';
import { SlipwayError, invalid } from '../errors.js';
import { createBareRepo, removeRepo } from '../git/repos.js';
import { HOOKS_DIR } from '../paths.js';
import type { Environment, Mode } from '../store/index.js';
import { out, type CommandContext } from './context.js';
import { ago, appUrl, remotes, table } from './format.js';
import { DEFAULT_MODE, writeSetting } from '../apps/settings.js';
import { destroyApp } from '../pipeline/previews.js';
import { prepareFirstDeploy } from '../pipeline/head-start.js';
import type { App } from '../store/index.js';

const ENVS = ['dev', 'staging', 'prod'];
const MODES = ['editable', 'cooking', 'final'];

export function registerApps(program: Command, ctx: CommandContext): void {
  program
    .command('apps:create')
    .description('create an app and its git repository')
    .argument('<name>', 'app name: a-z, 0-9 and "-", starting with a letter')
    .option('--env <env>', 'dev, staging or prod (picks the default mode)', 'staging')
    .option('--mode <mode>', 'editable, cooking or final (overrides the env default)')
    .option('--upstream <app>', 'the staging app a final (prod) app deploys builds from')
    .action(async (name: string, o: { env: string; mode?: string; upstream?: string }) => {
      checkAppName(name);
      if (!ENVS.includes(o.env)) throw invalid(`unknown env "${o.env}"`, `use one of ${ENVS.join(', ')}`);
      if (o.mode && !MODES.includes(o.mode)) throw invalid(`unknown mode "${o.mode}"`, `use one of ${MODES.join(', ')}`);
      // A name that would put the app at the server's own host name answers like a taken one.
      if (ctx.store.apps.byName(name) || isReservedAppName(name, ctx.settings))
        throw new SlipwayError('app_exists', `the name "${name}" is already taken`, { status: 409, hint: 'pick another name' });
      const upstream = o.upstream ? appFor(ctx.store, ctx.user, o.upstream) : undefined;
      const env = o.env as Environment;
      const mode = (o.mode as Mode | undefined) ?? DEFAULT_MODE[env];
      await createBareRepo(ctx.layout.repo(name), HOOKS_DIR);
      const created = ctx.store.apps.create({ name, ownerId: ctx.user.id, env, mode });
      if (upstream) writeSetting(ctx.store, created, 'upstream', upstream.name);
      // Its first push finds its build's guest or container (and standby) up, as later pushes do.
      if (ctx.platform) void prepareFirstDeploy(ctx.platform, created);
      const r = remotes(name, ctx.settings);
      out(ctx, `-----> Created ${name} (${env}, ${mode} mode${upstream ? `, deploys builds of ${upstream.name}` : ''})`);
      out(ctx, `       git remote add paas ${r.ssh}`);
      out(ctx, `       or over HTTP: git remote add paas ${r.http}`);
      out(ctx, `       then: git push paas main, and open ${appUrl(name, ctx.settings)}`);
    });

  program
    .command('apps:list')
    .alias('apps')
    .description('list the apps you can use')
    .action(() => {
      const rows = visibleApps(ctx.store, ctx.user).map((a) => [
        a.name,
        a.ownerName,
        a.env,
        a.mode,
        a.currentRelease ? `v${a.currentRelease}` : '-',
        appUrl(a.name, ctx.settings),
      ]);
      out(
        ctx,
        rows.length
          ? table(['NAME', 'OWNER', 'ENV', 'MODE', 'RELEASE', 'URL'], rows)
          : 'No apps yet. Create one with `slipway apps:create NAME`.',
      );
    });

  program
    .command('apps:info')
    .description('show an app: owner, mode, live release, URL and git remotes')
    .argument('<app>')
    .action((name: string) => {
      const app = appFor(ctx.store, ctx.user, name);
      const r = remotes(app.name, ctx.settings);
      const instances = ctx.platform?.services.driver.instances(app.name) ?? [];
      const lines: Array<[string, string]> = [
        ['Name', app.name],
        ['Owner', app.ownerName],
        [
          'Collaborators',
          ctx.store.collaborators
            .list(app.id)
            .map((c) => c.userName)
            .join(', ') || 'none',
        ],
        ['Env', app.env],
        ['Mode', app.mode],
        ['Deploy branch', app.deployBranch],
        ['Release', app.currentRelease ? `v${app.currentRelease}` : 'none yet'],
        ['Processes', instances.map((i) => `${i.type}.${i.index} (${i.state})`).join(', ') || 'none'],
        ['URL', appUrl(app.name, ctx.settings)],
        ['Git (SSH)', r.ssh],
        ['Git (HTTP)', r.http],
        ['Created', ago(app.createdAt)],
        ...previewLines(ctx, app),
      ];
      out(ctx, `=== ${app.name}`);
      for (const [k, v] of lines) out(ctx, `${(k + ':').padEnd(15)}${v}`);
    });

  program
    .command('apps:destroy')
    .description('stop an app and delete its repository, releases and data')
    .argument('<app>')
    .option('--confirm <app>', 'the app name again, to confirm')
    .action(async (name: string, o: { confirm?: string }) => {
      const app = appFor(ctx.store, ctx.user, name, 'manage');
      if (o.confirm !== app.name) {
        throw new SlipwayError('confirm_required', `destroying ${app.name} deletes its repository, releases and data`, {
          hint: `run again with --confirm ${app.name}`,
        });
      }
      const previews = ctx.store.previews.children(app.id).map((l) => ctx.store.apps.byId(l.appId)?.name);
      if (ctx.platform) await destroyApp(ctx.platform, app);
      else {
        await removeRepo(ctx.layout.repo(app.name));
        await fsp.rm(ctx.layout.app(app.name), { recursive: true, force: true });
        ctx.store.apps.destroy(app.id);
      }
      out(ctx, `-----> Destroyed ${app.name}${previews.length ? ` and its previews ${previews.join(', ')}` : ''}`);
    });
}

/** A preview names its parent and branch; a parent lists its previews. */
function previewLines(ctx: CommandContext, app: App): Array<[string, string]> {
  const link = ctx.store.previews.of(app.id);
  if (link)
    return [['Preview of', `${ctx.store.apps.byId(link.parentId)?.name ?? '?'} (branch ${link.branch}, last push ${ago(link.pushedAt)})`]];
  const children = ctx.store.previews.children(app.id);
  if (!children.length) return [];
  return [['Previews', children.map((l) => `${ctx.store.apps.byId(l.appId)?.name ?? '?'} (${l.branch})`).join(', ')]];
}
