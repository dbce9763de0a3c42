import { describe } from '../../errors.js';
import { deployEvent } from '../../notify/events.js';
import { STAGE_TITLES, type Stage } from '../modes.js';
import type { DeployContext, StageFn } from '../context.js';

/** Always runs last: one line that says how the deploy ended and what is serving, and the deploy event. */
export const notify: StageFn = async (ctx) => {
  tellNotifier(ctx);
  const secs = ((Date.now() - ctx.startedAt) / 1000).toFixed(1);
  const { settings } = ctx.services;
  const url = `http://${ctx.app.name}.${settings.domain}${settings.routerPort === 80 ? '' : `:${settings.routerPort}`}/`;
  if (!ctx.failure) {
    ctx.log.stage(`v${ctx.release?.version} of ${ctx.app.name} is live at ${url} (deployed in ${secs}s)`);
    return;
  }
  const stage = ctx.failure.stage ? (STAGE_TITLES[ctx.failure.stage as Stage] ?? ctx.failure.stage) : 'deploy';
  const serving =
    ctx.previous.version != null ? `v${ctx.previous.version} is still serving` : 'nothing was serving before, so nothing is serving now';
  ctx.log.error(
    `Deploy of ${ctx.app.name}${ctx.release ? ` v${ctx.release.version}` : ''} failed at ${stage.toLowerCase()}: ${describe(ctx.failure)}. ${serving}.`,
  );
};

/** Hands the event over and moves on: whatever happens to it after must not change how the deploy ended. */
function tellNotifier(ctx: DeployContext): void {
  const notifier = ctx.services.notifier;
  if (!notifier) return;
  try {
    notifier.deployEnded(
      deployEvent({
        app: ctx.app.name,
        jobId: ctx.job.id,
        kind: ctx.job.kind,
        mode: ctx.mode,
        release: ctx.release?.version ?? null,
        commit: ctx.release?.commit ?? ctx.job.commit,
        failure: ctx.failure ? { stage: ctx.failure.stage ?? null, error: describe(ctx.failure) } : undefined,
        startedAt: ctx.startedAt,
      }),
    );
  } catch (err) {
    ctx.log.info(`could not queue the deploy's webhooks: ${describe(err)}`);
  }
}
