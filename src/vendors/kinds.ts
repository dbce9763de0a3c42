import { invalid } from '../errors.js';
import type { VendorAccount } from '../store/index.js';

/**
 * The git providers Slipway fetches from and takes push webhooks from, as
 * data: where their repositories are by default and which user name their
 * tokens go with over HTTPS (each provider documents its own).
 */
export const VENDORS = {
  github: { host: 'github.com', tokenUser: 'x-access-token' },
  gitlab: { host: 'gitlab.com', tokenUser: 'oauth2' },
  bitbucket: { host: 'bitbucket.org', tokenUser: 'x-token-auth' },
} as const;

export type VendorKind = keyof typeof VENDORS;
export const VENDOR_KINDS = Object.keys(VENDORS) as VendorKind[];

export function checkVendor(v: string): VendorKind {
  if (!(VENDOR_KINDS as string[]).includes(v)) throw invalid(`unknown vendor "${v}"`, `use ${VENDOR_KINDS.join(', ')}`);
  return v as VendorKind;
}

/**
 * An account's host as stored: a host name (`github.example.com`, https
 * implied) or, for a self-hosted server, a base URL (`http://10.0.0.5:8080`).
 */
export function checkVendorHost(raw: string): string {
  const text = raw.trim().replace(/\/+$/, '');
  const url = parseBase(text);
  if (!url || !['http:', 'https:'].includes(url.protocol) || url.username || url.password || url.search || url.hash || text.length > 200)
    throw invalid(`"${raw}" is not a host name or an http(s) base URL`, 'e.g. github.example.com or https://git.example.com');
  return /^https?:\/\//.test(text) ? url.href.replace(/\/+$/, '') : url.host;
}

/** The account's base URL, scheme included. */
export const baseUrl = (host: string): string => (/^https?:\/\//.test(host) ? host : `https://${host}`);

function parseBase(text: string): URL | undefined {
  try {
    return new URL(/^[a-z]+:\/\//i.test(text) ? text : `https://${text}`);
  } catch {
    return undefined;
  }
}

/** An app's `source` setting: `github:owner/repo#branch`, or an https git URL `#branch` fetched with a matching account. */
export type AppSource = { vendor: VendorKind; path: string; branch: string } | { url: string; branch: string };

const REPO_PATH = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+){1,4}$/;
const BRANCH = /^[A-Za-z0-9._/-]{1,200}$/;

/** Reads a `source` value; throws one line saying what is allowed. */
export function parseSource(text: string): AppSource {
  const hash = text.lastIndexOf('#');
  const head = hash < 0 ? text : text.slice(0, hash);
  const branch = hash < 0 ? 'main' : text.slice(hash + 1);
  if (!BRANCH.test(branch) || branch.includes('..') || branch.startsWith('-') || branch.endsWith('/'))
    throw invalid(`"${branch}" is not a valid branch name`);
  const m = /^([a-z]+):(?!\/\/)(.*)$/.exec(head);
  if (m) {
    const vendor = checkVendor(m[1]!);
    const path = m[2]!.replace(/\.git$/, '');
    if (!REPO_PATH.test(path) || path.split('/').some((p) => p === '.' || p === '..'))
      throw invalid(`"${m[2]}" is not a repository path`, `write it as ${vendor}:OWNER/REPO#BRANCH`);
    return { vendor, path, branch };
  }
  let url: URL;
  try {
    url = new URL(head);
  } catch {
    throw invalid(
      `"${text}" is not a source`,
      'write it as github:OWNER/REPO#BRANCH (or gitlab:, bitbucket:) or https://HOST/REPO.git#BRANCH',
    );
  }
  if (!['http:', 'https:'].includes(url.protocol) || url.username || url.password || url.search || text.length > 500)
    throw invalid(
      `"${head}" is not an http(s) git URL without credentials`,
      'the token comes from your vendor account (slipway vendors:add)',
    );
  return { url: url.href, branch };
}

/** The same source on another branch, as `source` text. */
export const withBranch = (source: AppSource, branch: string): string =>
  'vendor' in source ? `${source.vendor}:${source.path}#${branch}` : `${source.url}#${branch}`;

/** Where a source is fetched from with an account, and the account to use: the first of `accounts` that fits. */
export function resolveSource(source: AppSource, accounts: VendorAccount[]): { url: string; account: VendorAccount } | undefined {
  if ('vendor' in source) {
    const account = accounts.find((a) => a.vendor === source.vendor);
    return account && { url: `${baseUrl(account.host)}/${source.path}.git`, account };
  }
  const origin = new URL(source.url).origin;
  const account = accounts.find((a) => new URL(baseUrl(a.host)).origin === origin);
  return account && { url: source.url, account };
}

/** The vendor a source names, for messages: `github`, or the URL's host. */
export const sourceVendor = (source: AppSource): string => ('vendor' in source ? source.vendor : new URL(source.url).host);

/**
 * git's environment for a token: an `http.<base>.extraHeader` given through
 * GIT_CONFIG_COUNT, so the token is in neither the URL (stored, logged) nor
 * the process list, and is only sent to that base URL.
 */
export function tokenEnv(url: string, account: VendorAccount, token: string): Record<string, string> {
  const user = VENDORS[account.vendor as VendorKind]?.tokenUser ?? account.username;
  const basic = Buffer.from(`${user}:${token}`).toString('base64');
  return {
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: `http.${new URL(url).origin}/.extraHeader`,
    GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
  };
}
