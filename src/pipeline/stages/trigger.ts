import type { StageFn } from '../context.js';
import { describeSource } from '../source.js';

/** Says what is being deployed and remembers what was live, for rollback. */
export const trigger: StageFn = async (ctx) => {
  const what = describeSource(ctx.source);
  ctx.log.info(`${ctx.app.name}: deploying ${what} in ${ctx.mode} mode (job ${ctx.job.id}, by ${ctx.job.userName})`);
  const live = ctx.app.currentRelease;
  ctx.previous = {
    version: live,
    instances: live == null ? [] : ctx.services.driver.instances(ctx.app.name).filter((i) => i.release === live),
  };
};
