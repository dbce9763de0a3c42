import type { Command } from 'commander';
import { appFor } from '../auth/access.js';
import { desiredFormation } from '../pipeline/formation.js';
import { liveRuntime } from '../pipeline/release-runtime.js';
import { liveInstances, parseScale, restart, scale, stopAll } from '../pipeline/scale.js';
import { out, requirePlatform, type CommandContext } from './context.js';
import { table } from './format.js';
import { writeSetting } from '../apps/settings.js';

const uptime = (since: number) => {
  const s = Math.max(0, Math.round((Date.now() - since) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
};

export function registerPs(program: Command, ctx: CommandContext): void {
  program
    .command('ps')
    .description("list an app's running instances")
    .argument('<app>')
    .action((name: string) => {
      const app = appFor(ctx.store, ctx.user, name);
      const all = requirePlatform(ctx)
        .services.driver.instances(app.name)
        .sort((a, b) => a.type.localeCompare(b.type) || a.index - b.index);
      if (!all.length)
        return void out(
          ctx,
          `${app.name} has no running instances.${app.currentRelease == null ? ' Push to deploy it.' : ` Start them with \`slipway ps:start ${app.name}\`.`}`,
        );
      const memory = (type: string) => {
        const guests = requirePlatform(ctx).services.guests;
        return guests ? `${guests.limitsOf(app.id, type).memoryMb}M` : '';
      };
      // A run the platform ended says why (`memory`: Heroku's R15), also once it is back up.
      const state = (i: (typeof all)[number]) => (i.reason ? `${i.state} (${i.reason})` : i.state);
      // Swarm apps: which host each task runs on, and the port there.
      const onHosts = all.some((i) => i.node);
      out(
        ctx,
        table(
          ['INSTANCE', 'STATE', 'RELEASE', ...(onHosts ? ['HOST'] : []), 'PORT', 'PID', 'RESTARTS', 'UPTIME', 'MEMORY'],
          all.map((i) => [
            `${i.type}.${i.index}`,
            state(i),
            `v${i.release}`,
            ...(onHosts ? [i.node ?? ''] : []),
            i.port ?? '',
            i.pid ?? '',
            i.restarts,
            uptime(i.startedAt),
            memory(i.type),
          ]),
        ),
      );
    });

  program
    .command('ps:scale')
    .description('set how many instances of each process type run, e.g. web=3 worker=1')
    .argument('<app>')
    .argument('<type=count...>')
    .action(async (name: string, pairs: string[]) => {
      const app = appFor(ctx.store, ctx.user, name);
      const { services, queue } = requirePlatform(ctx);
      const rt = await liveRuntime(services, app);
      const wanted = parseScale(pairs, rt.processTypes);
      const r = await queue.exclusive(app.id, () => scale(services, ctx.store.apps.byId(app.id)!, wanted));
      out(
        ctx,
        `-----> Scaled ${app.name} to ${Object.entries(wanted)
          .map(([t, n]) => `${t}=${n}`)
          .join(' ')} (${r.started.length} started, ${r.stopped.length} stopped)`,
      );
    });

  program
    .command('ps:restart')
    .description('restart instances one at a time, without downtime')
    .argument('<app>')
    .argument('[type]')
    .action(async (name: string, type?: string) => {
      const app = appFor(ctx.store, ctx.user, name);
      const { services, queue } = requirePlatform(ctx);
      const n = await queue.exclusive(app.id, () => restart(services, ctx.store.apps.byId(app.id)!, type));
      out(ctx, `-----> Restarted ${n} instance${n === 1 ? '' : 's'} of ${app.name}`);
    });

  program
    .command('ps:stop')
    .description('stop the instances of an app (or of one process type); the formation is kept')
    .argument('<app>')
    .argument('[type]')
    .action(async (name: string, type?: string) => {
      const app = appFor(ctx.store, ctx.user, name);
      const { services, queue } = requirePlatform(ctx);
      const stopped = await queue.exclusive(app.id, async () => {
        const r = await stopAll(services, app, type);
        if (!type) writeSetting(ctx.store, app, 'stopped', 'true');
        return r;
      });
      out(
        ctx,
        `-----> Stopped ${stopped.length} instance${stopped.length === 1 ? '' : 's'} of ${app.name}; start again with \`slipway ps:start ${app.name}\``,
      );
    });

  program
    .command('ps:start')
    .description('start the formation of the live release again')
    .argument('<app>')
    .action(async (name: string) => {
      const app = appFor(ctx.store, ctx.user, name);
      const { services, queue } = requirePlatform(ctx);
      const r = await queue.exclusive(app.id, async () => {
        const fresh = ctx.store.apps.byId(app.id)!;
        const rt = await liveRuntime(services, fresh);
        writeSetting(ctx.store, app, 'stopped', undefined);
        return scale(services, fresh, desiredFormation(services, fresh, rt.processTypes));
      });
      out(
        ctx,
        `-----> Started ${r.started.length} instance${r.started.length === 1 ? '' : 's'} of ${app.name}; ${liveInstances(services, app).length} running`,
      );
    });
}
