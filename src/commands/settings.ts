import type { Command } from 'commander';
import { USER_SETTINGS, checkSetting, isUserSetting, settingText, writeSetting } from '../apps/settings.js';
import { appFor } from '../auth/access.js';
import { DEFAULT_EGRESS, type Setter } from '../egress/index.js';
import { invalid } from '../errors.js';
import { movedDriver, prepareFirstDeploy } from '../pipeline/head-start.js';
import { applyTlsSettings } from './certs.js';
import { out, type CommandContext } from './context.js';

/** `apps:set` and `apps:get`: the rules of each setting are in apps/settings.ts. */
export function registerSettings(program: Command, ctx: CommandContext): void {
  program
    .command('apps:set')
    .description(`change app settings: ${USER_SETTINGS.join(', ')}`)
    .argument('<app>')
    .argument('<key=value...>', 'one or more settings; `key=` resets a setting to its default')
    .action(async (name: string, pairs: string[]) => {
      const app = appFor(ctx.store, ctx.user, name);
      const before = ctx.store.apps.byId(app.id) ?? app;
      const who: Setter = { admin: ctx.user.role === 'admin', settings: ctx.settings.egress ?? DEFAULT_EGRESS };
      const changes = pairs.map((pair) => {
        const eq = pair.indexOf('=');
        const key = eq > 0 ? pair.slice(0, eq) : pair;
        if (eq <= 0 || !isUserSetting(key))
          throw invalid(`unknown setting "${key}"`, `settings are: ${USER_SETTINGS.join(', ')}; write them as key=value`);
        const raw = pair.slice(eq + 1);
        return { key, value: raw === '' ? undefined : checkSetting(key, raw, who) };
      });
      // The upstream must be an app this user may use: checked before anything is stored.
      for (const c of changes) if (c.key === 'upstream' && c.value) appFor(ctx.store, ctx.user, c.value);
      // The source is fetched with the owner's vendor token: only the owner (or an admin) names what it reads.
      if (changes.some((c) => c.key === 'source')) appFor(ctx.store, ctx.user, name, 'manage');
      for (const c of changes) writeSetting(ctx.store, app, c.key, c.value, who);
      for (const c of changes) out(ctx, `-----> ${app.name}: ${c.key} ${c.value === undefined ? 'reset to its default' : `= ${c.value}`}`);
      // The router answers redirects and HSTS itself: it takes the new policy now, not at the next deploy.
      if (changes.some((c) => c.key === 'tls' || c.key.startsWith('tls.'))) await applyTlsSettings(ctx, app, before);
      // The next deploy builds and starts where the new driver does: its head starts begin now, as at apps:create.
      const after = ctx.store.apps.byId(app.id);
      if (ctx.platform && after && movedDriver(ctx.platform.services, before, after)) void prepareFirstDeploy(ctx.platform, after);
    });

  program
    .command('apps:get')
    .description('show app settings')
    .argument('<app>')
    .argument('[key]')
    .action((name: string, key?: string) => {
      const app = appFor(ctx.store, ctx.user, name);
      if (key) {
        if (!isUserSetting(key)) throw invalid(`unknown setting "${key}"`, `settings are: ${USER_SETTINGS.join(', ')}`);
        out(ctx, settingText(app, key) ?? '');
        return;
      }
      for (const k of USER_SETTINGS) out(ctx, `${k.padEnd(15)}${settingText(app, k) ?? ''}`.trimEnd());
    });
}
