import fsp from 'node:fs/promises';
import { execa } from 'execa';
import { DEFAULT_MODE, settingsOf, writeSetting } from '../apps/settings.js';
import { SlipwayError, invalid } from '../errors.js';
import { createBareRepo, removeRepo } from '../git/repos.js';
import { HOOKS_DIR } from '../paths.js';
import { isSealed } from '../secrets/box.js';
import type { App, Job, Store } from '../store/index.js';
import { previewName } from '../vendors/preview-name.js';
import { parseSource, withBranch } from '../vendors/kinds.js';
import { fetchAndDeploy, startDeploy, type DeployDeps } from './deploys.js';
import { forgetNextBuilds } from './builders.js';

/** What making and removing apps needs beyond the deploy queue: stopping an app's processes and route (the daemon's). */
export interface AppDeps extends DeployDeps {
  stopApp?: (app: string) => Promise<void>;
  /** True for a name that would put an app at the server's own host name (auth/hosts.ts isReservedAppName). */
  reservedName?: (name: string) => boolean;
}

/**
 * Removes an app and everything it made: its previews first, then (after any
 * deploy of it in line has finished) its processes, route, containers and
 * images, repository, releases and data, and its rows.
 */
export async function destroyApp(d: AppDeps, app: App): Promise<void> {
  const { store, layout, driver } = d.services;
  for (const link of store.previews.children(app.id)) {
    const child = store.apps.byId(link.appId);
    if (child) await destroyApp(d, child);
  }
  await d.queue.exclusive(app.id, async () => {
    await d.stopApp?.(app.name);
    await forgetNextBuilds(d.services, app.name);
    // Its containers, images and build cache: a new app of the same name must inherit nothing.
    await driver.removeApp?.(app.name);
    await removeRepo(layout.repo(app.name));
    await fsp.rm(layout.app(app.name), { recursive: true, force: true });
    store.apps.destroy(app.id);
  });
}

/**
 * Makes (or finds) `parent`'s preview app for `branch` and brings it in step:
 * a dev app owned and shared like the parent, with the parent's config but
 * the keys in `previews.exclude`. A name held by an app that is not this
 * parent's preview of this branch (or reserved for the server) is never touched.
 */
export async function ensurePreview(d: AppDeps, parent: App, branch: string): Promise<{ app: App; created: boolean }> {
  const { store, layout } = d.services;
  const name = previewName(parent.name, branch);
  let app = store.apps.byName(name);
  const created = !app;
  if (app || d.reservedName?.(name)) {
    const link = app && store.previews.of(app.id);
    if (!app || !link || link.parentId !== parent.id || link.branch !== branch)
      throw new SlipwayError('preview_name_taken', `the preview name ${name} is already taken by another app`, {
        status: 409,
        hint: `rename the branch, or destroy ${name} if it is not needed`,
      });
  } else {
    await createBareRepo(layout.repo(name), HOOKS_DIR);
    const mode = parent.mode === 'final' ? DEFAULT_MODE.staging : parent.mode;
    app = store.apps.create({ name, ownerId: parent.ownerId, env: 'dev', mode });
    store.previews.link(app.id, parent.id, branch);
  }
  store.previews.touch(app.id);
  shareLike(store, parent, app);
  store.apps.replaceConfig(app.id, previewConfig(d, parent, app));
  return { app: store.apps.byId(app.id)!, created };
}

/**
 * A push of `branch` to a parent with `previews=true`: its preview app is
 * made or updated (ensurePreview) and the pushed commit deployed to it as a push.
 */
export async function deployPreview(
  d: AppDeps,
  parent: App,
  branch: string,
  userName: string,
): Promise<{ app: App; job: Job; created: boolean }> {
  const { layout } = d.services;
  const { app, created } = await ensurePreview(d, parent, branch);
  const name = app.name;
  // The pushed branch becomes the preview's deploy branch head: from here on it is a push to the preview.
  await git(layout.repo(name), [
    'fetch',
    '--quiet',
    '--no-tags',
    '--',
    layout.repo(parent.name),
    `+refs/heads/${branch}:refs/heads/${app.deployBranch}`,
  ]);
  const commit = (await git(layout.repo(name), ['rev-parse', '--verify', `refs/heads/${app.deployBranch}^{commit}`])).trim();
  const job = startDeploy(d, { kind: 'push', app, userName, commit, ref: `refs/heads/${app.deployBranch}` });
  return { app, job, created };
}

/**
 * A provider's pull (merge) request for `branch` of a parent with previews on:
 * the preview's `source` is the parent's with that branch, and it is fetched
 * and deployed as `slipway deploy` would (`commit`: the request's head).
 */
export async function deployProviderPreview(
  d: AppDeps,
  parent: App,
  branch: string,
  userName: string,
  commit?: string,
): Promise<{ app: App; job: Job; created: boolean }> {
  const source = settingsOf(parent).get('source');
  if (!source) throw invalid(`${parent.name} has no source to fetch ${branch} from`, `set it: slipway apps:set ${parent.name} source=...`);
  // Checked before any app is made: a branch the source cannot name would leave a preview that never deploys.
  const previewSource = withBranch(parseSource(source), branch);
  if (parseSource(previewSource).branch !== branch)
    throw invalid(
      `"${branch.slice(0, 200)}" is not a valid branch name for a preview`,
      'branch names of letters, digits, . _ / - get previews',
    );
  const { app, created } = await ensurePreview(d, parent, branch);
  writeSetting(d.services.store, app, 'source', previewSource);
  const job = fetchAndDeploy(d, d.services.store.apps.byId(app.id)!, { userName }, commit);
  return { app, job, created };
}

/** The branch was deleted: its preview goes, with everything it made. Returns its name, or undefined when there was none. */
export async function removePreview(d: AppDeps, parent: App, branch: string): Promise<string | undefined> {
  const link = d.services.store.previews.forBranch(parent.id, branch);
  const app = link && d.services.store.apps.byId(link.appId);
  if (!app) return undefined;
  await destroyApp(d, app);
  return app.name;
}

/** Removes previews whose last push is older than their parent's `previews.ttl` days. Returns the names removed. */
export async function expirePreviews(d: AppDeps, now = Date.now()): Promise<string[]> {
  const { store } = d.services;
  const removed: string[] = [];
  for (const link of store.previews.pushedBefore(now - 86_400_000)) {
    const parent = store.apps.byId(link.parentId);
    const app = store.apps.byId(link.appId);
    if (!app || !parent) continue;
    if (link.pushedAt + settingsOf(parent).get('previews.ttl') * 86_400_000 > now) continue;
    await destroyApp(d, app);
    removed.push(app.name);
  }
  return removed;
}

/** The preview's owner and collaborators are the parent's, kept in step at every push. */
function shareLike(store: Store, parent: App, app: App): void {
  if (app.ownerId !== parent.ownerId) store.apps.transfer(app.id, parent.ownerId);
  const want = new Set(parent.collaboratorIds);
  for (const id of app.collaboratorIds) if (!want.has(id)) store.collaborators.remove(app.id, id);
  for (const id of want) store.collaborators.add(app.id, id, parent.ownerName);
}

/** The parent's config but the excluded keys; secrets are sealed again for the preview (the box binds a value to its app). */
function previewConfig(d: AppDeps, parent: App, app: App): Record<string, string> {
  const excluded = new Set(settingsOf(parent).get('previews.exclude'));
  const box = d.services.secrets;
  const config: Record<string, string> = {};
  for (const [k, v] of Object.entries(d.services.store.apps.config(parent.id))) {
    if (excluded.has(k)) continue;
    if (!isSealed(v)) config[k] = v;
    else if (box) config[k] = box.seal(app.name, k, box.open(parent.name, k, v));
  }
  return config;
}

async function git(cwd: string, args: string[]): Promise<string> {
  const run = await execa('git', args, { cwd, stdin: 'ignore', reject: false });
  if (run.failed)
    throw new SlipwayError('preview_failed', `git ${args[0]} for the preview failed: ${run.stderr.trim().split('\n').at(-1) ?? ''}`, {
      status: 500,
    });
  return run.stdout;
}
