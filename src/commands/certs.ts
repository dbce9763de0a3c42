import fsp from 'node:fs/promises';
import type { Command } from 'commander';
import { settingsOf, writeSetting } from '../apps/settings.js';
import { appFor, visibleApps } from '../auth/access.js';
import { SlipwayError, invalid } from '../errors.js';
import { SecretBox } from '../secrets/box.js';
import type { App } from '../store/index.js';
import {
  addOwnCertificate,
  certStatus,
  noCertificate,
  noCertificateText,
  publishCertificates,
  removeCertificate,
  type CertDeps,
} from '../tls/certificates.js';
import { out, requirePlatform, type CommandContext } from './context.js';
import { readAll } from './users.js';
import { table } from './format.js';

/**
 * `certs:add`, `certs:remove`, `certs:report`: an app's own TLS certificate.
 * Whoever may use the app (as for domains:add) may set its certificate.
 */
export function registerCerts(program: Command, ctx: CommandContext): void {
  program
    .command('certs:add')
    .description("serve an app's custom domains over HTTPS with your own certificate (chain and key, PEM)")
    .argument('<app>')
    .argument('[cert]', 'certificate file: the leaf, then its intermediates (a CA\'s "fullchain.pem"); - or none: both from stdin')
    .argument('[key]', 'its private key file (unencrypted)')
    .addHelpText(
      'after',
      '\nExamples:\n  slipway certs:add myapp fullchain.pem privkey.pem\n  cat fullchain.pem privkey.pem | ssh slipway@HOST certs:add myapp',
    )
    .action(async (name: string, certFile: string | undefined, keyFile: string | undefined) => {
      const app = appFor(ctx.store, ctx.user, name);
      const text = await certificateText(ctx, certFile, keyFile);
      const checked = await addOwnCertificate(deps(ctx), app, text);
      const status = certStatus(deps(ctx), app, ctx.store.certs.forApp(app.id)!);
      out(
        ctx,
        `-----> Added a certificate to ${app.name} for ${checked.names.join(', ')} (issued by ${checked.issuer}, expires ${day(checked.notAfter)})`,
      );
      for (const host of status.served) out(ctx, `       served at ${httpsUrl(ctx, host)}`);
      warn(ctx, status.warnings);
    });

  program
    .command('certs:auto')
    .description("get a certificate for all of an app's custom domains from the ACME CA (Let's Encrypt by default), and keep it renewed")
    .argument('<app>')
    .argument('[hostnames...]', "optional: names you expect it to cover; each must be one of the app's custom domains")
    .action(async (name: string, hostnames: string[]) => {
      const app = appFor(ctx.store, ctx.user, name);
      await autoCertificate(ctx, app, 'certs:auto', hostnames);
    });

  program
    .command('certs:remove')
    .description('stop serving an app over HTTPS with its own certificate')
    .argument('<app>')
    .action(async (name: string) => {
      const app = appFor(ctx.store, ctx.user, name);
      const auto = ctx.store.certs.forApp(app.id)?.source === 'acme';
      if (!(await removeCertificate(deps(ctx), app))) throw noCertificate(app);
      out(ctx, `-----> Removed the certificate of ${app.name}; its domains are served over plain HTTP only`);
      if (auto) out(ctx, '       ACME is off for it: nothing is renewed (certs:auto turns it back on)');
    });

  program
    .command('certs:report')
    .alias('certs')
    .description('certificates: domains served over HTTPS, issuer, expiry, source (of one app, or every app you may use)')
    .argument('[app]')
    .action((name: string | undefined) => {
      const apps: App[] = name ? [appFor(ctx.store, ctx.user, name)] : visibleApps(ctx.store, ctx.user);
      const rows: string[][] = [];
      const warnings: string[] = [];
      for (const app of apps) {
        const cert = ctx.store.certs.forApp(app.id);
        if (!cert) {
          if (name) rows.push([app.name, '', '(none)', '', '', '']);
          continue;
        }
        const s = certStatus(deps(ctx), app, cert);
        rows.push([
          app.name,
          s.served.join(', ') || '(none of its hosts)',
          cert.issuer ?? '',
          cert.notAfter ? day(cert.notAfter) : '',
          daysLeft(cert.notAfter),
          cert.source,
        ]);
        if (cert.lastAttemptAt)
          rows.push(['', `last attempt ${new Date(cert.lastAttemptAt).toISOString()}: ${cert.lastError ?? 'ok'}`, '', '', '', '']);
        if (cert.nextAttemptAt)
          rows.push(['', `next attempt ${new Date(cert.nextAttemptAt).toISOString()} (${cert.failures} failed in a row)`, '', '', '', '']);
        warnings.push(...s.warnings);
      }
      // The server's own name (`--api-domain … --api-cert acme`): admins see how its certificate stands, as for an app.
      const own =
        !name && ctx.user.role === 'admin' && ctx.settings.apiDomain ? ctx.store.platformCerts.get(ctx.settings.apiDomain) : undefined;
      if (own) {
        rows.push(['(server)', own.domain, own.issuer ?? '', own.notAfter ? day(own.notAfter) : '', daysLeft(own.notAfter), 'acme']);
        if (own.lastAttemptAt)
          rows.push(['', `last attempt ${new Date(own.lastAttemptAt).toISOString()}: ${own.lastError ?? 'ok'}`, '', '', '', '']);
        if (own.nextAttemptAt)
          rows.push(['', `next attempt ${new Date(own.nextAttemptAt).toISOString()} (${own.failures} failed in a row)`, '', '', '', '']);
      }
      out(ctx, rows.length ? table(['APP', 'DOMAINS', 'ISSUER', 'EXPIRES', 'LEFT', 'SOURCE'], rows) : 'No certificates.');
      warn(ctx, warnings);
    });
}

/**
 * The chain and key as one text. The host CLI and the remote CLI read the
 * files on the caller's side and send them as stdin (`certs:add APP -`); a
 * file path given over SSH or the API would name a file on the server.
 */
async function certificateText(ctx: CommandContext, certFile?: string, keyFile?: string): Promise<string> {
  if (certFile && certFile !== '-') {
    if (!ctx.local)
      throw new SlipwayError('stdin_required', 'over SSH the certificate and key are read from stdin', {
        hint: 'cat fullchain.pem privkey.pem | ssh slipway@HOST certs:add APP',
      });
    if (!keyFile) throw noCertificateText();
    const read = (f: string) =>
      fsp.readFile(f, 'utf8').catch(() => {
        throw new SlipwayError('no_file', `cannot read ${f}`, { hint: 'pass the certificate file and the key file' });
      });
    return `${await read(certFile)}\n${await read(keyFile)}`;
  }
  const text = await readAll(ctx.io.stdin, 'the certificate and key');
  if (!text.trim()) throw noCertificateText();
  return text;
}

/**
 * After `apps:set APP tls.*=…`: the router gets the new policy at once, and
 * whoever turned HSTS on is told what it commits them to.
 */
export async function applyTlsSettings(ctx: CommandContext, app: App, before: App): Promise<void> {
  const fresh = ctx.store.apps.byId(app.id) ?? app;
  const auto = settingsOf(fresh).get('tls') === 'auto';
  const cert = ctx.store.certs.forApp(app.id);
  if (auto && cert?.source !== 'acme') {
    try {
      await autoCertificate(ctx, fresh, 'apps:set');
    } catch (err) {
      // Nothing changes when the CA says no: the setting goes back with the certificate.
      writeSetting(ctx.store, fresh, 'tls', settingsOf(before).get('tls'));
      throw err;
    }
    return;
  }
  if (!auto && settingsOf(before).get('tls') === 'auto' && cert?.source === 'acme') {
    await removeCertificate(deps(ctx), fresh);
    out(ctx, `-----> ACME is off for ${app.name}: its certificate is removed; its domains are served over plain HTTP only`);
    return;
  }
  const hsts = settingsOf(fresh).get('tls.hsts');
  if (hsts > 0) {
    warn(ctx, [
      `HSTS: a browser that gets an HTTPS answer from ${app.name} refuses plain HTTP to that domain for the next ${hsts} seconds, even if the certificate, the setting or the app goes; only turn it on once HTTPS must stay`,
    ]);
  }
  if (!ctx.store.certs.forApp(app.id)) warn(ctx, [`${app.name} has no certificate yet: tls.* settings apply once it has one (certs:add)`]);
  await publishCertificates(deps(ctx));
}

/**
 * certs:auto and `apps:set tls=auto`: an order for every custom domain of the
 * app, its stage lines printed as they happen, then served at once. Needs the
 * daemon: its router answers the CA's challenges.
 */
export async function autoCertificate(
  ctx: CommandContext,
  app: App,
  trigger: 'certs:auto' | 'apps:set' | 'domains',
  hostnames: string[] = [],
): Promise<void> {
  const acme = requirePlatform(ctx).services.acme;
  if (!acme)
    throw new SlipwayError('router_failed', `the ${requirePlatform(ctx).services.router.name} router cannot answer ACME challenges`, {
      hint: 'run the server with --router builtin or --router nginx',
    });
  const domains = acme.domainsOf(app);
  for (const h of hostnames) {
    const host = h.toLowerCase().replace(/\.$/, '');
    if (!domains.includes(host))
      throw invalid(
        `${JSON.stringify(h.slice(0, 80))} is not a custom domain of ${app.name}${domains.length ? ` (it has ${domains.join(', ')})` : ''}`,
        `add it first: slipway domains:add ${app.name} ${host}`,
      );
  }
  await acme.obtain(app, { user: ctx.user.name, trigger, progress: (line) => out(ctx, line) });
  const status = certStatus(deps(ctx), app, ctx.store.certs.forApp(app.id)!);
  for (const host of status.served) out(ctx, `       served at ${httpsUrl(ctx, host)}`);
  warn(ctx, status.warnings);
}

/**
 * After domains:add or domains:remove on an app whose certificate comes from
 * ACME: a new order for the new set of names. Its failure does not undo the
 * domain change: the old certificate stays served and the sweep retries.
 */
export async function reissueAfterDomainChange(ctx: CommandContext, app: App): Promise<void> {
  const acme = ctx.platform?.services.acme;
  if (!acme || !acme.isAuto(app) || !acme.domainsOf(app).length) return;
  try {
    await acme.obtain(app, { user: ctx.user.name, trigger: 'domains', progress: (line) => out(ctx, line) });
  } catch (err) {
    warn(ctx, [
      `the certificate of ${app.name} was not re-issued: ${(err as Error).message}; the old one is still served and Slipway retries (slipway certs:report ${app.name})`,
    ]);
  }
}

function deps(ctx: CommandContext): CertDeps {
  const services = ctx.platform?.services;
  return {
    store: ctx.store,
    // Without the daemon (host CLI, server down) the key is sealed with the same key file; the next start serves it.
    secrets: services?.secrets ?? SecretBox.forHome(ctx.layout.home),
    router: services?.router,
    extraCaBundle: ctx.settings.extraCaBundle,
    domain: ctx.settings.domain,
  };
}

function warn(ctx: CommandContext, lines: string[]): void {
  for (const line of lines) ctx.io.stderr.write(` !     ${line}\n`);
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

const daysLeft = (notAfter: number | null) =>
  notAfter === null ? '' : notAfter <= Date.now() ? 'expired' : `${Math.floor((notAfter - Date.now()) / 86_400_000)}d`;

const httpsUrl = (ctx: CommandContext, host: string) => {
  const port = ctx.settings.routerTlsPort;
  return port === undefined ? `https://${host}/ (once the server listens for TLS)` : `https://${host}${port === 443 ? '' : `:${port}`}/`;
};
