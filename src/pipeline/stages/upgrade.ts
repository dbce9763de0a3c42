import type { StageFn } from '../context.js';

/**
 * The RFC's upgrade procedure. Its user part is the `.slipway/upgrade` hook the
 * runner calls after this; the built-in part has nothing to do yet.
 */
export const upgrade: StageFn = async (ctx) => {
  ctx.log.info('No built-in upgrade steps');
};
