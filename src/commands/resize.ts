import type { Command } from 'commander';
import { appFor } from '../auth/access.js';
import { invalid } from '../errors.js';
import { GuestUsers, parseMemory } from '../guest/users.js';
import { restart } from '../pipeline/scale.js';
import type { StoredLimits } from '../store/index.js';
import { out, requirePlatform, type CommandContext } from './context.js';
import { table } from './format.js';

const TYPE = /^[A-Za-z0-9_-]{1,63}$/;

/** `web=512M`, `web=1G,cpu=512,pids=128`, `worker=default` → type and the limits to store (null: back to the default). */
export function parseResize(pair: string): { type: string; changes: { [K in keyof StoredLimits]?: number | null } } {
  const eq = pair.indexOf('=');
  const type = pair.slice(0, eq);
  const spec = pair.slice(eq + 1);
  const usage = 'write TYPE=MEMORY[,cpu=SHARES][,pids=N], e.g. web=512M or worker=1G,cpu=512,pids=256 (or TYPE=default)';
  if (eq <= 0 || !TYPE.test(type) || !spec) throw invalid(`cannot read "${pair}"`, usage);
  if (spec === 'default') return { type, changes: { memoryMb: null, cpuShares: null, pids: null } };
  const changes: { [K in keyof StoredLimits]?: number | null } = {};
  for (const part of spec.split(',')) {
    const [key, value] = part.includes('=') ? part.split('=', 2) : ['memory', part];
    const n = key === 'memory' ? parseMemory(value!) : /^\d+$/.test(value!) ? Number(value) : undefined;
    if (key === 'memory' && n !== undefined && n >= 16 && n <= 1024 * 1024) changes.memoryMb = n;
    else if (key === 'cpu' && n !== undefined && n >= 2 && n <= 262144) changes.cpuShares = n;
    else if (key === 'pids' && n !== undefined && n >= 8 && n <= 4194304) changes.pids = n;
    else throw invalid(`cannot read "${part}" in "${pair}" (memory from 16M, cpu shares from 2, pids from 8)`, usage);
  }
  return { type, changes };
}

/**
 * `ps:resize`: Heroku's dyno sizes and Dokku's `resource:limit`, per app and
 * process type, applied by both drivers at each start. Instances already
 * running take the new size through the rolling restart of `ps:restart`.
 */
export function registerResize(program: Command, ctx: CommandContext): void {
  program
    .command('ps:resize')
    .description("set or show the memory, CPU shares and process limit of an app's process types, e.g. web=512M worker=1G,cpu=512,pids=256")
    .argument('<app>')
    .argument('[type=size...]')
    .action(async (name: string, pairs: string[]) => {
      const app = appFor(ctx.store, ctx.user, name);
      const { services, queue } = requirePlatform(ctx);
      const guests = services.guests ?? new GuestUsers(ctx.store);
      const parsed = pairs.map(parseResize);
      for (const { type, changes } of parsed) ctx.store.guests.setLimits(app.id, type, changes);
      const types = [
        ...new Set([...Object.keys(ctx.store.guests.limits(app.id)), ...services.driver.instances(app.name).map((i) => i.type), 'web']),
      ].sort();
      const rows = types.map((t) => {
        const l = guests.limitsOf(app.id, t);
        return [t, `${l.memoryMb}M`, l.cpuShares, l.pids];
      });
      if (parsed.length) out(ctx, `-----> Resized ${app.name}: ${parsed.map((p) => p.type).join(', ')}`);
      out(ctx, table(['TYPE', 'MEMORY', 'CPU SHARES', 'PIDS'], rows));
      const running = new Set(
        services.driver
          .instances(app.name)
          .filter((i) => i.release === app.currentRelease)
          .map((i) => i.type),
      );
      for (const { type } of parsed) {
        if (!running.has(type)) continue;
        const n = await queue.exclusive(app.id, () => restart(services, ctx.store.apps.byId(app.id)!, type));
        out(ctx, `       Restarted ${n} ${type} instance${n === 1 ? '' : 's'} with the new size`);
      }
    });
}
