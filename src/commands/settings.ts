import type { Command } from 'commander';
import { appFor } from '../auth/access.js';
import { BRANCH_NAME, checkAppName } from '../auth/names.js';
import { DEFAULT_EGRESS, checkFetchUrlAtSet, checkGitUrlAtSet, trustEntry, type Setter } from '../egress/index.js';
import { checkBuildpackSpec } from '../pipeline/buildpack-egress.js';
import { invalid } from '../errors.js';
import { DRIVERS } from '../runtime/kinds.js';
import type { App, Store } from '../store/index.js';
import { out, type CommandContext } from './context.js';
import { HSTS_MAX, TLS_HSTS, TLS_REDIRECT } from '../tls/certificates.js';
import { applyTlsSettings } from './certs.js';

interface Setting {
  describe: string;
  /** Returns the normalised value, or throws a SlipwayError saying what is allowed (to this setter). */
  check(value: string, who: Setter): string;
  /** Names a URL or path the server fetches: who set it is recorded (see egress/trust.ts). */
  egress?: true;
  get(app: App): string | undefined;
  set(store: Store, app: App, value: string | undefined): void;
}

const inSettings = (key: string): Pick<Setting, 'get' | 'set'> => ({
  get: (app) => app.settings[key],
  set: (store, app, value) => store.apps.setSetting(app.id, key, value),
});

/** A whole-number setting from `min` to 100, kept in the app's settings. */
const count = (key: string, min: number, describe: string): Setting => ({
  describe,
  check: (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > 100) throw invalid(`${key} must be a whole number from ${min} to 100, not "${v}"`);
    return String(n);
  },
  ...inSettings(key),
});

/** App settings a user may change, each with its own rule. Unknown keys are refused, not stored. */
export const SETTINGS: Record<string, Setting> = {
  deploy_branch: {
    describe: 'the branch whose pushes deploy (default main)',
    check: (v) => {
      if (!BRANCH_NAME.test(v) || v.includes('..') || v.startsWith('-') || v.endsWith('/'))
        throw invalid(`"${v}" is not a valid branch name`);
      return v;
    },
    get: (app) => app.deployBranch,
    set: (store, app, value) => store.db.prepare('UPDATE apps SET deploy_branch = ? WHERE id = ?').run(value ?? 'main', app.id),
  },
  buildpack_url: {
    describe:
      'buildpack to use instead of detection: a built-in name, a git URL (#ref allowed), a path in the source (./bp), or (admins) a host path',
    check: (v, who) => {
      if (!v || v.length > 500 || /[\s\0]/.test(v)) throw invalid('a buildpack URL is one word of at most 500 characters');
      checkBuildpackSpec('buildpack_url', v, who);
      return v;
    },
    egress: true,
    ...inSettings('buildpack_url'),
  },
  mode: {
    describe: 'editable, cooking or final: which stages deploys run (default from the env)',
    check: (v) => {
      if (!['editable', 'cooking', 'final'].includes(v)) throw invalid(`unknown mode "${v}"`, 'use editable, cooking or final');
      return v;
    },
    get: (app) => app.mode,
    set: (store, app, value) =>
      store.db
        .prepare('UPDATE apps SET mode = ? WHERE id = ?')
        .run(value ?? { dev: 'editable', staging: 'cooking', prod: 'final' }[app.env], app.id),
  },
  upstream: {
    describe: 'the staging app whose builds this (final) app deploys and promotes from',
    check: (v) => checkAppName(v),
    ...inSettings('upstream'),
  },
  origin: {
    describe:
      "an editable app's real remote (https, ssh or git URL; file URLs for admins): `slipway deploy` pulls its deploy branch into the work tree",
    check: (v, who) => {
      let url: URL;
      try {
        url = new URL(v);
      } catch {
        throw invalid(`"${v}" is not a URL`, 'e.g. https://github.com/acme/shop.git or file:///srv/git/shop.git');
      }
      if (!['http:', 'https:', 'ssh:', 'git:', 'file:'].includes(url.protocol) || v.length > 1000)
        throw invalid(`"${v}" is not an http, https, ssh, git or file URL`);
      checkGitUrlAtSet(v, { setting: 'origin', url: v }, who);
      return v;
    },
    egress: true,
    ...inSettings('origin'),
  },
  'push.atomic': {
    describe: 'true: deploy inside pre-receive, so a failed deploy rejects the push (what CI wants)',
    check: (v) => {
      if (v !== 'true' && v !== 'false') throw invalid('push.atomic is true or false');
      return v;
    },
    ...inSettings('push.atomic'),
  },
  artifact_urls: {
    describe: 'release archive URLs (http, https; file for admins; optional #sha256=HEX) a final app deploys with `slipway deploy`',
    check: (v, who) => {
      for (const u of v.split(/[\s,]+/).filter(Boolean)) checkFetchUrlAtSet(u, { setting: 'artifact_urls', url: u }, who, { file: true });
      return v;
    },
    egress: true,
    ...inSettings('artifact_urls'),
  },
  driver: {
    describe: "process or docker: where this app runs and builds (default: the server's --driver); applies from the next deploy",
    check: (v) => {
      if (!(DRIVERS as readonly string[]).includes(v)) throw invalid(`unknown driver "${v}"`, `use ${DRIVERS.join(' or ')}`);
      return v;
    },
    ...inSettings('driver'),
  },
  [TLS_REDIRECT]: {
    describe: 'true: answer plain HTTP with 308 to https for the domains its certificate covers (ACME challenges exempt)',
    check: (v) => {
      if (v !== 'true' && v !== 'false') throw invalid('tls.redirect is true or false');
      return v;
    },
    ...inSettings(TLS_REDIRECT),
  },
  [TLS_HSTS]: {
    describe: `Strict-Transport-Security max-age in seconds on HTTPS responses (0: off, the default; at most ${HSTS_MAX})`,
    check: (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > HSTS_MAX)
        throw invalid(`tls.hsts must be a whole number of seconds from 0 to ${HSTS_MAX}, not "${v}"`);
      return String(n);
    },
    ...inSettings(TLS_HSTS),
  },
  'backups.keep': count('backups.keep', 1, 'archive-stage snapshots kept (1–100; default 5)'),
  'releases.keep': count('releases.keep', 2, 'succeeded releases kept with their archive (2–100; default from the server)'),
};

export function registerSettings(program: Command, ctx: CommandContext): void {
  program
    .command('apps:set')
    .description(`change app settings: ${Object.keys(SETTINGS).join(', ')}`)
    .argument('<app>')
    .argument('<key=value...>', 'one or more settings; `key=` resets a setting to its default')
    .action(async (name: string, pairs: string[]) => {
      const app = appFor(ctx.store, ctx.user, name);
      const who: Setter = { admin: ctx.user.role === 'admin', settings: ctx.settings.egress ?? DEFAULT_EGRESS };
      const changes = pairs.map((pair) => {
        const eq = pair.indexOf('=');
        const key = eq > 0 ? pair.slice(0, eq) : pair;
        const setting = SETTINGS[key];
        if (eq <= 0 || !setting)
          throw invalid(`unknown setting "${key}"`, `settings are: ${Object.keys(SETTINGS).join(', ')}; write them as key=value`);
        const raw = pair.slice(eq + 1);
        return { key, setting, value: raw === '' ? undefined : setting.check(raw, who) };
      });
      for (const c of changes) if (c.key === 'upstream' && c.value) appFor(ctx.store, ctx.user, c.value);
      for (const c of changes) {
        c.setting.set(ctx.store, app, c.value);
        if (c.setting.egress) ctx.store.apps.setSetting(app.id, ...trustEntry(c.key, c.value, who.admin));
      }
      for (const c of changes) out(ctx, `-----> ${app.name}: ${c.key} ${c.value === undefined ? 'reset to its default' : `= ${c.value}`}`);
      if (changes.some((c) => c.key.startsWith('tls.'))) await applyTlsSettings(ctx, app);
    });

  program
    .command('apps:get')
    .description('show app settings')
    .argument('<app>')
    .argument('[key]')
    .action((name: string, key?: string) => {
      const app = appFor(ctx.store, ctx.user, name);
      if (key) {
        const setting = SETTINGS[key];
        if (!setting) throw invalid(`unknown setting "${key}"`, `settings are: ${Object.keys(SETTINGS).join(', ')}`);
        out(ctx, setting.get(app) ?? '');
        return;
      }
      for (const [k, s] of Object.entries(SETTINGS)) out(ctx, `${k.padEnd(15)}${s.get(app) ?? ''}`.trimEnd());
    });
}
