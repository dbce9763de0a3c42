import path from 'node:path';
import { SlipwayError } from '../errors.js';
import { BuiltinRouter } from './builtin.js';
import type { RouterEngine } from './engine.js';
import { NginxRouter } from './nginx.js';
import { findNginx } from './nginx-process.js';
import type { RequestRecorder } from '../metrics/platform-metrics.js';

/** What `--router` accepts: an engine, or `auto` (nginx when it is installed, the built-in router otherwise). */
export const ROUTER_ENGINES = ['auto', 'builtin', 'nginx'] as const;
export type RouterSetting = (typeof ROUTER_ENGINES)[number];
export type RouterKind = Exclude<RouterSetting, 'auto'>;

/**
 * `auto` picks nginx when its binary is found: it serves about four times
 * the built-in Node router's requests per second (bench/router.ts), and
 * needs nothing else. Without nginx the server still starts, on the built-in router.
 */
export function resolveRouterKind(setting: RouterSetting, nginxBin?: string): RouterKind {
  if (setting !== 'auto') return setting;
  try {
    findNginx(nginxBin);
    return 'nginx';
  } catch {
    return 'builtin';
  }
}

/** The start banner's line: which engine serves, and why when `auto` chose it. */
export function describeRouter(engine: string, setting: RouterSetting): string {
  const what = engine === 'nginx' ? 'nginx' : 'built-in (Node)';
  if (setting !== 'auto') return what;
  return engine === 'nginx' ? `${what}   (--router auto: nginx is installed)` : `${what}   (--router auto: no nginx installed)`;
}

export interface RouterChoice {
  kind: RouterSetting;
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
  const kind = ROUTER_ENGINES.includes(choice.kind) ? resolveRouterKind(choice.kind, choice.nginxBin) : choice.kind;
  switch (kind) {
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
      throw new SlipwayError('invalid', `unknown router engine ${JSON.stringify(kind)}`, {
        status: 422,
        hint: `use one of: ${ROUTER_ENGINES.join(', ')}`,
      });
  }
}
