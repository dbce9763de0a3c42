import type { ApiContext } from '../api/context.js';
import { jobView, releaseView } from '../api/present.js';
import { maskedConfig } from '../api/routes/config.js';
import { appUrl } from '../commands/format.js';
import { desiredFormation } from '../pipeline/formation.js';
import type { App, Job, User } from '../store/index.js';
import { visibleApps } from '../auth/access.js';
import { settingsOf } from '../apps/settings.js';
import { treeUsage } from '../metrics/process-usage.js';
import { sparkline } from './sparkline.js';

/** Jobs that deploy (a push, rollback, promotion, config change), not one-offs, image builds or certificate attempts. */
const isDeploy = (j: Job) => j.mode !== 'task';

export const when = (ms: number | null | undefined) =>
  ms == null ? '' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
export const took = (j: Job) =>
  j.startedAt != null && j.finishedAt != null ? `${Math.max(0, Math.round((j.finishedAt - j.startedAt) / 1000))} s` : '';

/** serving: every wanted process type has an instance up; failing: one has none up; stopped: none wanted. */
function statusOf(app: App, counts: ProcessCount[]): 'serving' | 'failing' | 'stopped' | 'not deployed' {
  if (app.currentRelease == null) return 'not deployed';
  const wanted = counts.filter((c) => c.wanted > 0);
  if (!wanted.length) return 'stopped';
  return wanted.every((c) => c.up > 0) ? 'serving' : 'failing';
}

interface ProcessCount {
  type: string;
  up: number;
  wanted: number;
}

function processCounts(ctx: ApiContext, app: App): ProcessCount[] {
  const services = ctx.platform.services;
  const live = app.currentRelease == null ? undefined : ctx.store.releases.get(app.id, app.currentRelease);
  const wanted = live ? desiredFormation(services, app, live.processTypes) : {};
  const instances = services.driver.instances(app.name);
  const types = new Set([...Object.keys(wanted), ...instances.map((i) => i.type)]);
  return [...types].sort().map((type) => ({
    type,
    wanted: wanted[type] ?? 0,
    up: instances.filter((i) => i.type === type && i.state === 'up').length,
  }));
}

function lastDeploy(ctx: ApiContext, app: App) {
  const j = ctx.store.jobs.list(app.id, 20).find((x) => isDeploy(x) && x.finishedAt != null);
  return j && { id: j.id, kind: j.kind, user: j.userName, when: when(j.finishedAt), took: took(j), result: j.status };
}

/** One row of the apps list. */
export function appSummary(ctx: ApiContext, app: App) {
  const counts = processCounts(ctx, app);
  const traffic = ctx.metrics?.recent.summary(app.name);
  return {
    name: app.name,
    status: statusOf(app, counts),
    release: app.currentRelease == null ? null : `v${app.currentRelease}`,
    processes: counts,
    last: lastDeploy(ctx, app),
    url: appUrl(app.name, ctx.settings),
    mode: app.mode,
    env: app.env,
    sparkline: traffic ? sparkline(traffic.rates) : '',
    rate: traffic ? traffic.rates[traffic.rates.length - 1]! : 0,
  };
}

/** Everything the app page shows; reads only what the matching API routes read. */
export function appDetail(ctx: ApiContext, user: User, app: App) {
  const { store } = ctx;
  const releases = store.releases.list(app.id).map((r) => releaseView(app, r));
  const jobs = store.jobs.list(app.id, 30).map((j) => ({ ...jobView(j, []), took: took(j), when: when(j.createdAt) }));
  const config = maskedConfig(ctx, app);
  const cert = store.certs.forApp(app.id);
  const traffic = ctx.metrics?.recent.summary(app.name);
  const instances = ctx.platform.services.driver
    .instances(app.name)
    .sort((a, b) => a.type.localeCompare(b.type) || a.index - b.index)
    .map((i) => {
      const usage = i.pid ? treeUsage(i.pid) : undefined;
      return {
        name: `${i.type}.${i.index}`,
        state: i.reason ? `${i.state} (${i.reason})` : i.state,
        release: `v${i.release}`,
        restarts: i.restarts,
        memory: usage ? `${(usage.rssBytes / 1024 / 1024).toFixed(1)} MiB` : '',
        cpu: usage ? `${usage.cpuSeconds.toFixed(2)} s` : '',
      };
    });
  // Promote goes to the apps that name this one their upstream (staging → production), among those the user may use.
  const downstream = visibleApps(store, user).filter((a) => settingsOf(a).get('upstream') === app.name);
  return {
    ...appSummary(ctx, app),
    releases,
    running: jobs.filter((j) => j.status === 'running' || j.status === 'queued'),
    jobs,
    config: Object.entries(config.vars).map(([key, value]) => ({ key, value, secret: config.secret.includes(key) })),
    domains: store.domains.forApp(app.id).map((d) => ({
      hostname: d.hostname,
      cert: certState(cert, d.hostname),
    })),
    cert: cert && { expires: when(cert.notAfter), error: cert.lastError, source: cert.source, domains: cert.domains },
    instances,
    collaborators: store.collaborators.list(app.id).map((c) => ({ name: c.userName, addedBy: c.addedBy, when: when(c.createdAt) })),
    owner: app.ownerName,
    traffic: traffic && {
      rate: traffic.rates[traffic.rates.length - 1]!.toFixed(2),
      p50: traffic.p50 == null ? '–' : `${traffic.p50.toFixed(1)} ms`,
      p95: traffic.p95 == null ? '–' : `${traffic.p95.toFixed(1)} ms`,
      errors: `${(traffic.errorRate * 100).toFixed(1)} %`,
      total: traffic.total,
    },
    promoteTargets: downstream.map((a) => a.name),
  };
}

function certState(cert: ReturnType<ApiContext['store']['certs']['forApp']>, host: string): string {
  if (!cert) return 'no certificate';
  if (cert.lastError && !cert.chain) return `failing: ${cert.lastError}`;
  if (!cert.domains.some((d) => d === host || (d.startsWith('*.') && host.endsWith(d.slice(1))))) return 'not covered';
  if (cert.notAfter != null && cert.notAfter < Date.now()) return 'expired';
  return `valid until ${when(cert.notAfter)}${cert.lastError ? ` (renewal failing: ${cert.lastError})` : ''}`;
}

/** The deploys page: running and queued jobs of the apps the user may see, and the last failures. */
export function deploysOf(ctx: ApiContext, apps: App[]) {
  const all = apps.flatMap((a) => ctx.store.jobs.list(a.id, 50)).filter(isDeploy);
  const row = (j: Job) => ({ ...jobView(j, []), took: took(j), when: when(j.createdAt) });
  return {
    active: all
      .filter((j) => j.status === 'running' || j.status === 'queued')
      .sort((a, b) => a.id - b.id)
      .map(row),
    failed: all
      .filter((j) => j.status === 'failed')
      .sort((a, b) => b.id - a.id)
      .slice(0, 20)
      .map(row),
  };
}
