import path from 'node:path';
import type { StageFn } from '../context.js';

/** Says what is being deployed and remembers what was live, for rollback. */
export const trigger: StageFn = async (ctx) => {
  const src = ctx.source;
  const what =
    src.kind === 'git'
      ? `commit ${src.commit.slice(0, 7)} (${src.ref.replace(/^refs\/heads\//, '')})`
      : src.fromApp
        ? `release archive of ${src.fromApp} v${src.fromVersion}`
        : `release archive ${path.basename(src.archive)}`;
  ctx.log.info(`${ctx.app.name}: deploying ${what} in ${ctx.mode} mode (job ${ctx.job.id}, by ${ctx.job.userName})`);
  const live = ctx.app.currentRelease;
  ctx.previous = {
    version: live,
    instances: live == null ? [] : ctx.services.driver.instances(ctx.app.name).filter((i) => i.release === live),
  };
};
