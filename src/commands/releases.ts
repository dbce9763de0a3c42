import fs from 'node:fs';
import type { Command } from 'commander';
import { appFor, mayUse } from '../auth/access.js';
import { SlipwayError, notFound } from '../errors.js';
import { startDeploy } from '../pipeline/deploys.js';
import { writeInto } from '../pipeline/job-log.js';
import type { Job } from '../store/index.js';
import { out, requirePlatform, type CommandContext } from './context.js';
import { ago, table } from './format.js';

const parseVersion = (v: string): number => {
  const m = /^v?(\d{1,9})$/.exec(v);
  if (!m) throw new SlipwayError('invalid', `"${v}" is not a release version`, { status: 422, hint: 'write it as v3 or 3' });
  return Number(m[1]);
};

/** Relays a job's log to the caller and turns its outcome into an exit code. */
export async function followJob(ctx: CommandContext, jobId: number): Promise<Job> {
  const app = ctx.store.jobs.get(jobId)?.appName;
  if (app) ctx.io.session?.useApp(app);
  const job = await requirePlatform(ctx).queue.follow(jobId, writeInto(ctx.io.stdout), ctx.io.signal);
  if (job.status === 'failed') throw new SlipwayError('job_failed', `job ${job.id} failed`, { status: 500 });
  return job;
}

export function registerReleases(program: Command, ctx: CommandContext): void {
  program
    .command('releases')
    .description("list an app's releases, newest first")
    .argument('<app>')
    .action((name: string) => {
      const app = appFor(ctx.store, ctx.user, name);
      const rows = ctx.store.releases
        .list(app.id)
        .map((r) => [
          `v${r.version}${r.version === app.currentRelease ? '*' : ''}`,
          r.kind,
          r.status,
          r.commit?.slice(0, 7) ?? '',
          r.author,
          ago(r.createdAt),
          r.status === 'failed' ? (r.error ?? '').slice(0, 80) : r.description,
        ]);
      out(
        ctx,
        rows.length
          ? table(['VERSION', 'KIND', 'STATUS', 'COMMIT', 'BY', 'WHEN', 'DESCRIPTION'], rows)
          : `${app.name} has no releases yet. Push to deploy it.`,
      );
    });

  program
    .command('releases:info')
    .description('show one release: what it runs, where it came from, its archive')
    .argument('<app>')
    .argument('<version>')
    .action((name: string, version: string) => {
      const app = appFor(ctx.store, ctx.user, name);
      const r = ctx.store.releases.get(app.id, parseVersion(version));
      if (!r) throw notFound(`release ${version} of ${app.name}`, `list them with \`slipway releases ${app.name}\``);
      const lines: Array<[string, string]> = [
        ['Version', `v${r.version}${r.version === app.currentRelease ? ' (live)' : ''}`],
        ['Kind', r.kind + (r.sourceVersion ? ` of v${r.sourceVersion}` : '')],
        ['Status', r.status + (r.error ? `: ${r.error}` : '')],
        ['Description', r.description],
        ['Commit', r.commit ?? ''],
        ['By', r.author],
        ['Created', new Date(r.createdAt).toISOString()],
        ['Buildpacks', r.buildpacks.join(', ')],
        [
          'Processes',
          Object.entries(r.processTypes)
            .map(([t, c]) => `${t}: ${c}`)
            .join('; '),
        ],
        ['Config vars', Object.keys(r.config).join(', ') || '(none)'],
        ['Archive', r.sha256 ? `sha256 ${r.sha256}, ${r.size} bytes` : 'none'],
        ...(r.image ? [['Image', r.image] as [string, string]] : []),
        ['Job', r.jobId ? String(r.jobId) : ''],
      ];
      out(ctx, `=== ${app.name} v${r.version}`);
      for (const [k, v] of lines) out(ctx, `${(k + ':').padEnd(13)}${v}`);
    });

  program
    .command('rollback')
    .description("make a new release from an earlier release's archive, without building")
    .argument('<app>')
    .argument('[version]', 'release to go back to (default: the one before the live release)')
    .action(async (name: string, version?: string) => {
      const app = appFor(ctx.store, ctx.user, name);
      const platform = requirePlatform(ctx);
      const all = ctx.store.releases.list(app.id);
      const target = version
        ? all.find((r) => r.version === parseVersion(version))
        : all.find((r) => r.status === 'succeeded' && app.currentRelease != null && r.version < app.currentRelease);
      if (!target)
        throw notFound(
          version ? `release ${version} of ${app.name}` : `an earlier release of ${app.name}`,
          `list them with \`slipway releases ${app.name}\``,
        );
      if (target.status !== 'succeeded' || !target.archivePath || !fs.existsSync(target.archivePath)) {
        throw new SlipwayError('not_rollbackable', `v${target.version} has no release archive to roll back to (it is ${target.status})`, {
          hint: `pick a succeeded release from \`slipway releases ${app.name}\``,
        });
      }
      const job = startDeploy(platform, { kind: 'rollback', app, userName: ctx.user.name, target });
      const previous = app.currentRelease;
      await followJob(ctx, job.id);
      if (previous != null) out(ctx, `To undo, run: slipway rollback ${app.name} v${previous}`);
    });

  program
    .command('jobs')
    .description('list deploy jobs, newest first')
    .argument('[app]')
    .action((name?: string) => {
      const app = name ? appFor(ctx.store, ctx.user, name) : undefined;
      const jobs = ctx.store.jobs.list(app?.id).filter((j) => app || mayUse(ctx.user, ctx.store.apps.byId(j.appId)!));
      out(
        ctx,
        table(
          ['ID', 'APP', 'KIND', 'MODE', 'STATUS', 'STAGE', 'RELEASE', 'BY', 'WHEN'],
          jobs.map((j) => [
            j.id,
            j.appName,
            j.kind,
            j.mode,
            j.status,
            j.currentStage ?? '',
            j.releaseVersion ? `v${j.releaseVersion}` : '',
            j.userName,
            ago(j.createdAt),
          ]),
        ),
      );
    });

  program
    .command('jobs:info')
    .description('show a job and the stages it ran')
    .argument('<id>')
    .action((id: string) => {
      const job = jobFor(ctx, id);
      out(ctx, `=== job ${job.id}: ${job.kind} of ${job.appName} (${job.mode} mode) — ${job.status}${job.error ? `: ${job.error}` : ''}`);
      out(
        ctx,
        table(
          ['STAGE', 'STATUS', 'SECONDS', 'ERROR'],
          ctx.store.jobs
            .stages(job.id)
            .map((s) => [
              s.stage,
              s.status,
              s.finishedAt && s.startedAt ? ((s.finishedAt - s.startedAt) / 1000).toFixed(1) : '',
              s.error ?? '',
            ]),
        ),
      );
    });

  program
    .command('jobs:wait')
    .description("stream a job's log until it ends; exits non-zero if it failed (for CI)")
    .argument('<id>')
    .action(async (id: string) => {
      await followJob(ctx, jobFor(ctx, id).id);
    });

  program
    .command('jobs:log')
    .description("print a job's log; follows it while the job runs")
    .argument('<id>')
    .action(async (id: string) => {
      const job = jobFor(ctx, id);
      if (ctx.platform) await followJob(ctx, job.id);
      else out(ctx, fs.readFileSync(job.logPath, 'utf8'));
    });
}

function jobFor(ctx: CommandContext, id: string): Job {
  const job = /^\d{1,12}$/.test(id) ? ctx.store.jobs.get(Number(id)) : undefined;
  if (!job || !mayUse(ctx.user, ctx.store.apps.byId(job.appId)!)) throw notFound(`job ${id}`, 'list jobs with `slipway jobs`');
  return job;
}
