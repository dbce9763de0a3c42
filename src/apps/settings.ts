import { BRANCH_NAME, checkAppName } from '../auth/names.js';
import { checkBuildpackSpec } from '../builder/buildpack-spec.js';
import { checkFetchUrlAtSet, checkGitUrlAtSet, checkLiteralHost, setByAdmin, trustEntry, type Setter } from '../egress/index.js';
import { invalid } from '../errors.js';
import { parseSource } from '../vendors/kinds.js';
import { DRIVERS, parseDriver, type DriverKind } from '../runtime/kinds.js';
import type { App, Environment, Mode, Store } from '../store/index.js';

/**
 * App settings, written once: each one's type, default, who may set it, how
 * a value is checked and what it does. `apps:set`/`apps:get` (and so the
 * REST API's CLI route) take the rules from here; the pipeline, the daemon
 * and the API read values through `settingsOf(app)`, typed, never as the
 * stored strings. This sits above the store (which only keeps the text) and
 * below the pipeline and the commands, which both import it.
 */

/** Two years: what HSTS preload lists ask for; more commits browsers for longer than anyone plans. */
export const HSTS_MAX = 63_072_000;

/** The mode an app of each environment deploys in unless its `mode` setting says otherwise. */
export const DEFAULT_MODE: Record<Environment, Mode> = { dev: 'editable', staging: 'cooking', prod: 'final' };

/** What each setting reads as. `undefined` is "unset": the default its description names applies. */
export interface SettingValues {
  deploy_branch: string;
  buildpack_url: string | undefined;
  mode: Mode;
  upstream: string | undefined;
  origin: string | undefined;
  'push.atomic': boolean;
  artifact_urls: string[];
  /** Unset: the server's `--driver`. */
  driver: DriverKind | undefined;
  /** Swarm placement constraints; empty: anywhere (a prod app: `env=prod` hosts when any exist). */
  placement: string[];
  /** Unset: the server's default (5). */
  'backups.keep': number | undefined;
  /** Unset: the server's `--keep-releases`. */
  'releases.keep': number | undefined;
  /** `ps:stop` without a type: the daemon leaves the app stopped when it restarts. */
  stopped: boolean;
  /** `auto`: the app's certificate comes from the ACME CA and is renewed (certs:auto); unset: none, or its own (certs:add). */
  tls: 'auto' | undefined;
  'tls.redirect': boolean;
  /** Seconds; 0 is off. */
  'tls.hsts': number;
  /** Where `slipway deploy` and push webhooks fetch from: `github:owner/repo#branch` or an https git URL `#branch`. */
  source: string | undefined;
  /** true: a push of another branch makes or updates the preview app APP-pr-BRANCH. */
  previews: boolean;
  /** Days a preview lives without a push (default 7). */
  'previews.ttl': number;
  /** Config keys previews do not copy (`config:set --no-preview`). */
  'previews.exclude': string[];
}

export type SettingKey = keyof SettingValues;

interface Setting<T> {
  /** One line: what it does, and its default. */
  describe: string;
  /**
   * `app`: anyone who may use the app (owner, collaborators, admins), with `apps:set`.
   * `slipway`: only Slipway itself (`ps:stop`, `ps:start`, a deploy); `apps:set` refuses it as unknown.
   */
  who: 'app' | 'slipway';
  /**
   * Values only an admin may give (host paths, file URLs). A value of such a
   * setting names something the server fetches, so setting it also records
   * whether an admin did (egress/trust.ts), and only an admin's is followed.
   */
  adminOnly?: string;
  /** For the two settings that are columns of `apps` rather than keys of its settings object. */
  column?: { text(app: App): string; write(store: Store, app: App, text: string | undefined): void };
  /** The stored text (undefined when unset) as the typed value. */
  read(text: string | undefined): T;
  /** Set-time check: the normalised text, or a SlipwayError saying in one line what is allowed (to this setter). Only `app` settings have one. */
  check?(text: string, who: Setter): string;
}

/** Swarm's constraint forms Slipway passes on: a node attribute or label, == or !=, a plain value. */
const PLACEMENT = /^node\.(labels\.[A-Za-z0-9_.-]+|hostname|role|id|platform\.(os|arch))\s*(==|!=)\s*[A-Za-z0-9_.-]+$/;

const optionalText = (text: string | undefined) => text;

/** A whole-number setting from `min` to 100; unset (or unreadable) reads as undefined, the server's default. */
const count = (key: string, min: number, describe: string): Setting<number | undefined> => ({
  describe,
  who: 'app',
  read: (text) => (text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined),
  check: (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > 100) throw invalid(`${key} must be a whole number from ${min} to 100, not "${v}"`);
    return String(n);
  },
});

/** Every setting, in the order `apps:set --help` and `apps:get` list them. Unknown keys are refused, not stored. */
export const SETTINGS: { readonly [K in SettingKey]: Setting<SettingValues[K]> } = {
  deploy_branch: {
    describe: 'the branch whose pushes deploy (default main)',
    who: 'app',
    column: { text: (app) => app.deployBranch, write: (store, app, text) => store.apps.setDeployBranch(app.id, text ?? 'main') },
    read: (text) => text ?? 'main',
    check: (v) => {
      if (!BRANCH_NAME.test(v) || v.includes('..') || v.startsWith('-') || v.endsWith('/'))
        throw invalid(`"${v}" is not a valid branch name`);
      return v;
    },
  },
  buildpack_url: {
    describe:
      'buildpack to use instead of detection: a built-in name, a git URL (#ref allowed), a path in the source (./bp), or (admins) a host path',
    who: 'app',
    adminOnly: 'host paths and file URLs',
    read: optionalText,
    check: (v, who) => {
      if (!v || v.length > 500 || /[\s\0]/.test(v)) throw invalid('a buildpack URL is one word of at most 500 characters');
      checkBuildpackSpec('buildpack_url', v, who);
      return v;
    },
  },
  mode: {
    describe: 'editable, cooking or final: which stages deploys run (default from the env)',
    who: 'app',
    column: {
      text: (app) => app.mode,
      write: (store, app, text) => store.apps.setMode(app.id, (text as Mode | undefined) ?? DEFAULT_MODE[app.env]),
    },
    read: (text) => text as Mode,
    check: (v) => {
      if (!['editable', 'cooking', 'final'].includes(v)) throw invalid(`unknown mode "${v}"`, 'use editable, cooking or final');
      return v;
    },
  },
  upstream: {
    describe: 'the staging app whose builds this (final) app deploys and promotes from',
    who: 'app',
    read: optionalText,
    check: (v) => checkAppName(v),
  },
  origin: {
    describe:
      "an editable app's real remote (https, ssh or git URL; file URLs for admins): `slipway deploy` pulls its deploy branch into the work tree",
    who: 'app',
    adminOnly: 'file URLs',
    read: optionalText,
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
  },
  'push.atomic': {
    describe: 'true: deploy inside pre-receive, so a failed deploy rejects the push (what CI wants); default false',
    who: 'app',
    read: (text) => text === 'true',
    check: (v) => {
      if (v !== 'true' && v !== 'false') throw invalid('push.atomic is true or false');
      return v;
    },
  },
  artifact_urls: {
    describe: 'release archive URLs (http, https; file for admins; optional #sha256=HEX) a final app deploys with `slipway deploy`',
    who: 'app',
    adminOnly: 'file URLs',
    read: (text) => (text ?? '').split(/[\s,]+/).filter(Boolean),
    check: (v, who) => {
      for (const u of v.split(/[\s,]+/).filter(Boolean)) checkFetchUrlAtSet(u, { setting: 'artifact_urls', url: u }, who, { file: true });
      return v;
    },
  },
  driver: {
    describe: "process, docker or swarm: where this app runs and builds (default: the server's --driver); applies from the next deploy",
    who: 'app',
    read: parseDriver,
    check: (v) => {
      if (!(DRIVERS as readonly string[]).includes(v))
        throw invalid(`unknown driver "${v}"`, `use ${DRIVERS.slice(0, -1).join(', ')} or ${DRIVERS.at(-1)}`);
      return v;
    },
  },
  placement: {
    describe:
      'swarm driver: Swarm placement constraints, comma-separated (node.labels.env==prod); default anywhere, a prod app on env=prod hosts when any exist',
    who: 'app',
    read: (text) =>
      (text ?? '')
        .split(',')
        .map((c) => c.trim())
        .filter(Boolean),
    check: (v) => {
      const parts = v
        .split(',')
        .map((c) => c.trim())
        .filter(Boolean);
      for (const c of parts)
        if (!PLACEMENT.test(c)) throw invalid(`"${c}" is not a placement constraint`, 'e.g. node.labels.env==prod or node.hostname!=node2');
      return parts.join(',');
    },
  },
  tls: {
    describe:
      "auto: get a certificate for the app's custom domains from the ACME CA and keep it renewed (as certs:auto); empty: stop (removes it)",
    who: 'app',
    read: (text) => (text === 'auto' ? 'auto' : undefined),
    check: (v) => {
      if (v !== 'auto') throw invalid(`tls is auto, not "${v}"`, 'tls=auto turns ACME on; tls= turns it off');
      return v;
    },
  },
  'tls.redirect': {
    describe: 'true: answer plain HTTP with 308 to https for the domains its certificate covers (ACME challenges exempt)',
    who: 'app',
    read: (text) => text === 'true',
    check: (v) => {
      if (v !== 'true' && v !== 'false') throw invalid('tls.redirect is true or false');
      return v;
    },
  },
  'tls.hsts': {
    describe: `Strict-Transport-Security max-age in seconds on HTTPS responses (0: off, the default; at most ${HSTS_MAX})`,
    who: 'app',
    read: (text) => (text !== undefined && /^\d+$/.test(text) ? Number(text) : 0),
    check: (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > HSTS_MAX)
        throw invalid(`tls.hsts must be a whole number of seconds from 0 to ${HSTS_MAX}, not "${v}"`);
      return String(n);
    },
  },
  source: {
    describe:
      'github:OWNER/REPO#BRANCH (or gitlab:, bitbucket:, or an https git URL#BRANCH): `slipway deploy` and push webhooks fetch it with your vendor account',
    who: 'app',
    read: optionalText,
    check: (v, who) => {
      const source = parseSource(v);
      // A literal address is checked now; a host name each time it is fetched (egress/rules.ts).
      if ('url' in source) checkLiteralHost(who.settings, new URL(source.url).hostname, { setting: 'source', url: source.url });
      return v;
    },
  },
  previews: {
    describe:
      'true: a push of another branch makes or updates the preview app APP-pr-BRANCH; deleting the branch removes it (default false)',
    who: 'app',
    read: (text) => text === 'true',
    check: (v) => {
      if (v !== 'true' && v !== 'false') throw invalid('previews is true or false');
      return v;
    },
  },
  'previews.ttl': {
    describe: 'days a preview app lives without a push before it is removed (1–365; default 7)',
    who: 'app',
    read: (text) => (text !== undefined && /^\d+$/.test(text) ? Number(text) : 7),
    check: (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 365) throw invalid(`previews.ttl must be a whole number of days from 1 to 365, not "${v}"`);
      return String(n);
    },
  },
  'previews.exclude': {
    describe: 'config keys previews do not copy, comma-separated (`config:set --no-preview` adds to it)',
    who: 'app',
    read: (text) => (text ?? '').split(',').filter(Boolean),
    check: (v) => {
      const keys = v.split(/[\s,]+/).filter(Boolean);
      for (const k of keys) if (!/^[A-Za-z_][A-Za-z0-9_]{0,199}$/.test(k)) throw invalid(`"${k}" is not a config key`);
      return keys.join(',');
    },
  },
  'backups.keep': count('backups.keep', 1, 'archive-stage snapshots kept (1–100; default 5)'),
  'releases.keep': count('releases.keep', 2, 'succeeded releases kept with their archive (2–100; default from the server)'),
  stopped: {
    describe: 'true after `ps:stop APP`: a restarted daemon leaves the app stopped; `ps:start` and a deploy clear it',
    who: 'slipway',
    read: (text) => text === 'true',
  },
};

/** The settings `apps:set` and `apps:get` know, in their order. */
export const USER_SETTINGS = (Object.keys(SETTINGS) as SettingKey[]).filter((k) => SETTINGS[k].who === 'app');

/** True for a key `apps:set` may change. */
export const isUserSetting = (key: string): key is SettingKey => (USER_SETTINGS as string[]).includes(key);

/** The stored text of a setting, as `apps:get` prints it; undefined when unset. */
export function settingText(app: App, key: SettingKey): string | undefined {
  const column = SETTINGS[key].column;
  return column ? column.text(app) : app.settings[key];
}

/** Config vars that name something the server fetches: an admin's value of one is recorded as theirs, as adminOnly settings are. */
export type ConfigTrusted = 'BUILDPACK_URL';
/** The key its admin fingerprint is kept under among the app's settings (egress/trust.ts). */
export const configTrustKey = (name: ConfigTrusted) => `config.${name}`;

/** An app's settings, typed: `settingsOf(app).get('push.atomic')` is a boolean. Reads the `app` given, so fetch a fresh one for a fresh value. */
export function settingsOf(app: App) {
  return {
    get: <K extends SettingKey>(key: K): SettingValues[K] => (SETTINGS[key] as Setting<SettingValues[K]>).read(settingText(app, key)),
    /** True when `text` (default: the setting's current text) is the value of `key` an admin set (egress/trust.ts): only then may it name the server's own files. */
    setByAdmin: (key: SettingKey, text = settingText(app, key)): boolean => text !== undefined && setByAdmin(app.settings, key, text),
    /** The same for a config var that names something fetched (BUILDPACK_URL): true when `value` is the value an admin set (see checkConfigChange). */
    configSetByAdmin: (name: ConfigTrusted, value: string): boolean => setByAdmin(app.settings, configTrustKey(name), value),
  };
}

/**
 * Checks `text` as `who` may set `key`: the normalised text to store, or a
 * SlipwayError with one line saying what is allowed. `undefined` (reset to
 * the default) needs no check.
 */
export function checkSetting(key: SettingKey, text: string, who: Setter): string {
  const { check } = SETTINGS[key];
  if (!check) throw invalid(`${key} is set by Slipway itself`, 'see `slipway apps:set --help` for the settings you may change');
  return check(text, who);
}

/**
 * Stores a checked value (`undefined`: back to the default). For a setting
 * with admin-only values it records whether an admin set it, so a member's
 * later change never inherits an admin's trust.
 */
export function writeSetting(
  store: Store,
  app: App,
  key: SettingKey,
  text: string | undefined,
  by: { admin: boolean } = { admin: false },
): void {
  const setting: Setting<unknown> = SETTINGS[key];
  if (setting.column) setting.column.write(store, app, text);
  else store.apps.setSetting(app.id, key, text);
  if (setting.adminOnly) store.apps.setSetting(app.id, ...trustEntry(key, text, by.admin));
}
