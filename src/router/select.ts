import path from 'node:path';
import { SlipwayError } from '../errors.js';
import { BuiltinRouter } from './builtin.js';
import type { RouterEngine } from './engine.js';
import { NginxRouter } from './nginx.js';
import type { RequestRecorder } from '../metrics/platform-metrics.js';

export const ROUTER_ENGINES = ['builtin', 'nginx'] as const;
export type RouterKind = (typeof ROUTER_ENGINES)[number];

export interface RouterChoice {
  kind: RouterKind;
  /** Slipway's data directory; the nginx engine keeps its config in `nginx/` under it. */
  home: string;
  log: (msg: string) => void;
  /** The nginx executable, when not the one on PATH. */
  nginxBin?: string;
  /** Told of each answered request of a routed app (both engines). */
  requests?: RequestRecorder;
}

/**
 * The one place an engine is picked. Creating the nginx engine looks for the
 * nginx binary, so a missing one fails here, before the server starts anything.
 */
export function createRouter(choice: RouterChoice): RouterEngine {
  switch (choice.kind) {
    case 'builtin':
      return new BuiltinRouter({ log: choice.log, requests: choice.requests });
    case 'nginx':
      return new NginxRouter({
        stateDir: path.join(choice.home, 'nginx'),
        nginxBin: choice.nginxBin,
        log: choice.log,
        requests: choice.requests,
      });
    default:
      throw new SlipwayError('invalid', `unknown router engine ${JSON.stringify(choice.kind)}`, {
        status: 422,
        hint: `use one of: ${ROUTER_ENGINES.join(', ')}`,
      });
  }
}
