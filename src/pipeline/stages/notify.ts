import { describe } from '../../errors.js';
import { STAGE_TITLES, type Stage } from '../modes.js';
import type { StageFn } from '../context.js';

/** Always runs last: one line that says how the deploy ended and what is serving. */
export const notify: StageFn = async (ctx) => {
  const secs = ((Date.now() - ctx.startedAt) / 1000).toFixed(1);
  const { settings } = ctx.services;
  const url = `http://${ctx.app.name}.${settings.domain}${settings.routerPort === 80 ? '' : `:${settings.routerPort}`}/`;
  if (!ctx.failure) {
    ctx.log.stage(`v${ctx.release?.version} of ${ctx.app.name} is live at ${url} (deployed in ${secs}s)`);
    return;
  }
  const stage = ctx.failure.stage ? STAGE_TITLES[ctx.failure.stage as Stage] ?? ctx.failure.stage : 'deploy';
  const serving = ctx.previous.version != null ? `v${ctx.previous.version} is still serving` : 'nothing was serving before, so nothing is serving now';
  ctx.log.error(`Deploy of ${ctx.app.name}${ctx.release ? ` v${ctx.release.version}` : ''} failed at ${stage.toLowerCase()}: ${describe(ctx.failure)}. ${serving}.`);
};
