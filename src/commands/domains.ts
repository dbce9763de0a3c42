import type { Command } from 'commander';
import { appFor } from '../auth/access.js';
import { checkHostClaim, hostTaken } from '../auth/hosts.js';
import { invalid, notFound } from '../errors.js';
import { routeTo } from '../pipeline/formation.js';
import type { App } from '../store/index.js';
import { reissueAfterDomainChange } from './certs.js';
import { out, type CommandContext } from './context.js';
import { ago, table } from './format.js';

/** RFC 1123 labels, at least two of them, 253 characters at most. */
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;
const HOSTNAME_HINT =
  'use a full host name like www.example.com: dot-separated labels of a-z, 0-9 and "-" (not first or last), 253 characters at most';

const shown = (s: string) => JSON.stringify(s.length > 70 ? `${s.slice(0, 67)}...` : s);

/**
 * The one spelling of a host name Slipway stores and routes: lowercase, no
 * trailing dot. Refuses anything that is not a plain DNS name, and IP
 * addresses; which names an app may have is checkHostClaim's question.
 */
export function checkHostname(raw: string): string {
  const host = raw.toLowerCase().replace(/\.$/, '');
  if (host.startsWith('*.')) throw invalid(`wildcard domains like ${shown(raw)} are not supported`, 'add each host name on its own');
  if (!HOSTNAME.test(host)) throw invalid(`invalid hostname ${shown(raw)}`, HOSTNAME_HINT);
  if (/^\d+$/.test(host.slice(host.lastIndexOf('.') + 1)))
    throw invalid(
      `${shown(raw)} is an IP address, not a host name`,
      'the router serves apps by host name; add a name that resolves to this server',
    );
  return host;
}

export function registerDomains(program: Command, ctx: CommandContext): void {
  program
    .command('domains')
    .description('list the host names an app is served at: its default one and custom domains')
    .argument('<app>')
    .action((name: string) => {
      const app = appFor(ctx.store, ctx.user, name);
      const rows: string[][] = [[defaultHost(ctx, app), 'default', ago(app.createdAt)]];
      for (const d of ctx.store.domains.forApp(app.id)) rows.push([d.hostname, 'custom', ago(d.createdAt)]);
      out(ctx, table(['DOMAIN', 'KIND', 'ADDED'], rows));
    });

  program
    .command('domains:add')
    .description('serve an app at another host name too (point its DNS at this server)')
    .argument('<app>')
    .argument('<hostname>', 'e.g. www.example.com')
    .action(async (name: string, raw: string) => {
      const app = appFor(ctx.store, ctx.user, name);
      if (raw.toLowerCase().replace(/\.$/, '') === defaultHost(ctx, app))
        return void out(ctx, `-----> ${defaultHost(ctx, app)} is ${app.name}'s default domain already`);
      const host = checkHostname(raw);
      if (ctx.store.domains.byHostname(host)?.appId === app.id) return void out(ctx, `-----> ${host} is already a domain of ${app.name}`);
      // The check and the insert run in one tick: no other command can claim a level in between.
      checkHostClaim(ctx.store, ctx.settings, ctx.user, app, host);
      if (!ctx.store.domains.add(app.id, host)) throw hostTaken(host);
      try {
        await applyRoute(ctx, app);
      } catch (err) {
        ctx.store.domains.remove(app.id, host);
        throw err;
      }
      out(ctx, `-----> Added ${host} to ${app.name}`);
      out(ctx, `       point its DNS (A/AAAA or CNAME) at this server; it is served at ${urlFor(ctx, host)}`);
      await reissueAfterDomainChange(ctx, app);
    });

  program
    .command('domains:remove')
    .description('stop serving an app at a custom host name')
    .argument('<app>')
    .argument('<hostname>')
    .action(async (name: string, raw: string) => {
      const app = appFor(ctx.store, ctx.user, name);
      const host = raw.toLowerCase().replace(/\.$/, '');
      if (host === defaultHost(ctx, app)) throw invalid(`${host} is ${app.name}'s default domain and cannot be removed`);
      if (!ctx.store.domains.remove(app.id, host))
        throw notFound(`domain ${shown(raw)} of ${app.name}`, `list them with \`slipway domains ${app.name}\``);
      await applyRoute(ctx, app);
      out(ctx, `-----> Removed ${host} from ${app.name}`);
      await reissueAfterDomainChange(ctx, app);
    });
}

const defaultHost = (ctx: CommandContext, app: App) => `${app.name}.${ctx.settings.domain}`;

const urlFor = (ctx: CommandContext, host: string) =>
  `http://${host}${ctx.settings.routerPort === 80 ? '' : `:${ctx.settings.routerPort}`}/`;

/**
 * A live app gets its new host list at once, on the backends serving it right
 * now — no redeploy. The serving set is read from the router itself, not from
 * `currentRelease`, which lags behind the switch during a deploy; reading it and
 * re-routing happen in one tick, so a deploy cannot switch in between.
 */
async function applyRoute(ctx: CommandContext, app: App): Promise<void> {
  const services = ctx.platform?.services;
  const route = services?.router.routes().find((r) => r.app === app.name);
  if (!services || !route) return;
  const serving = new Set(route.backends.map((b) => b.id));
  const instances = services.driver
    .instances(app.name)
    .filter((i) => serving.has(i.id) || (serving.size === 0 && i.release === app.currentRelease));
  await routeTo(services, ctx.store.apps.byId(app.id) ?? app, instances);
}
