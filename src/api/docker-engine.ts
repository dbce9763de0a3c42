import { engineAccess, type EngineAccess } from '../docker/access.js';
import type { ApiContext } from './context.js';

export type { EngineAccess };

const engines = new WeakMap<ApiContext, EngineAccess>();

/** The API's one engine client per server, made on first use. */
export function engineFor(ctx: ApiContext): EngineAccess {
  let access = engines.get(ctx);
  if (!access) {
    access = engineAccess();
    engines.set(ctx, access);
  }
  return access;
}
