import { execa } from 'execa';
import { DEFAULT_EGRESS, gitEgress, shownUrl } from '../egress/index.js';
import { DeployError, SlipwayError } from '../errors.js';
import { parseSource, resolveSource, sourceVendor, tokenEnv } from '../vendors/kinds.js';
import { openVendorToken } from '../vendors/tokens.js';
import type { DeployContext, ResolvedSource } from './context.js';

type ProviderSource = Extract<ResolvedSource, { kind: 'provider' }>;
type GitSource = Extract<ResolvedSource, { kind: 'git' }>;

/**
 * Fetches the app's `source` branch from its provider into the app's own
 * repo, on the deploy branch, so the rest of the deploy is exactly a push's.
 * The vendor account is the owner's only (a collaborator's token is theirs); its token goes
 * to git as an extra header in git's environment (never in the URL, the
 * argument list or the log), and only to that provider's base URL. The host
 * is resolved and checked by the egress rule first.
 */
export async function fetchProvider(ctx: DeployContext, src: ProviderSource): Promise<GitSource> {
  const { store, layout, secrets, settings } = ctx.services;
  const app = ctx.app;
  const parsed = parseSource(src.source);
  const vendor = sourceVendor(parsed);
  const fail = (why: string, hint: string, cause?: unknown) =>
    new DeployError(`${vendor}: ${why}`, { app: app.name, command: 'git fetch', hint, cause });
  const accounts = store.vendors.list(app.ownerId);
  const found = resolveSource(parsed, accounts);
  if (!found)
    throw fail(
      `${app.ownerName}, the owner of ${app.name}, has no vendor account for ${src.source}`,
      `${app.ownerName} adds one: slipway vendors:add ${'vendor' in parsed ? parsed.vendor : 'github --host URL'} --token TOKEN`,
    );
  if (!secrets) throw new SlipwayError('secret_key', 'no secret key was loaded to open vendor tokens', { status: 500 });
  const token = openVendorToken(secrets, found.account);
  // Anything git or the provider echoes is masked in the job log like a secret config value.
  secrets.masker(app.name).add(token);
  const { url } = found;
  const transport = await gitEgress({
    url,
    target: { setting: 'source', url },
    settings: settings.egress ?? DEFAULT_EGRESS,
    trusted: false,
  });
  const ref = `refs/heads/${app.deployBranch}`;
  ctx.log.info(
    `Fetching ${parsed.branch} of ${shownUrl(url)} with ${found.account.vendor} account ${found.account.username || found.account.host}`,
  );
  const run = await execa('git', [...transport.args, 'fetch', '--quiet', '--no-tags', '--', url, `+refs/heads/${parsed.branch}:${ref}`], {
    cwd: layout.repo(app.name),
    env: { ...process.env, ...transport.env, ...tokenEnv(url, found.account, token) },
    extendEnv: false,
    stdin: 'ignore',
    cancelSignal: ctx.signal,
    timeout: transport.timeoutMs,
    killSignal: 'SIGKILL',
    reject: false,
  });
  if (run.failed) {
    const stderr = String(run.stderr ?? '');
    const refused = /\b(401|403)\b|Authentication failed|could not read (Username|Password)|terminal prompts disabled/i.test(stderr);
    const why = refused
      ? `the provider refused the token of the ${found.account.vendor} account (${shownUrl(url)})`
      : run.timedOut
        ? `fetching ${shownUrl(url)} took longer than the egress total timeout`
        : `could not fetch ${parsed.branch} of ${shownUrl(url)}: ${lastLine(stderr) || `git fetch exited ${run.exitCode}`}`;
    throw fail(
      why,
      refused
        ? `give a valid token: slipway vendors:add ${found.account.vendor} --token TOKEN`
        : 'check the source setting and that the provider answers',
    );
  }
  const commit = src.commit ?? (await revParse(ctx, ref));
  if (!(await hasCommit(ctx, commit)))
    throw fail(
      `${commit.slice(0, 12)} is not on ${parsed.branch} of ${shownUrl(url)}`,
      'push it to the provider, then deliver the webhook again',
    );
  return { kind: 'git', commit, ref };
}

const lastLine = (text: string) =>
  text
    .trim()
    .split('\n')
    .at(-1)
    ?.replace(/^fatal: /, '')
    .slice(0, 300) ?? '';

async function revParse(ctx: DeployContext, ref: string): Promise<string> {
  const run = await execa('git', ['rev-parse', '--verify', '--end-of-options', `${ref}^{commit}`], {
    cwd: ctx.services.layout.repo(ctx.app.name),
    reject: false,
  });
  return run.stdout.trim();
}

async function hasCommit(ctx: DeployContext, commit: string): Promise<boolean> {
  if (!/^[0-9a-f]{40}$/.test(commit)) return false;
  const run = await execa('git', ['cat-file', '-e', `${commit}^{commit}`], { cwd: ctx.services.layout.repo(ctx.app.name), reject: false });
  return !run.failed;
}
