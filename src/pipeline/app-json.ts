import { invalid } from '../errors.js';
import { readAppFile } from '../guest/app-files.js';

/** One web health check, in Dokku's app.json format (times in seconds). */
export interface HealthCheck {
  name: string;
  path: string;
  /** Text the body must contain. */
  content?: string;
  /** Per-attempt timeout. */
  timeout: number;
  attempts: number;
  /** Pause between attempts. */
  wait: number;
  initialDelay: number;
}

export interface AppJson {
  healthchecks: { web: HealthCheck[] };
  scripts: { predeploy?: string; postdeploy?: string };
}

const num = (v: unknown, dflt: number, max: number, field: string): number => {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > max)
    throw invalid(`app.json: healthchecks ${field} must be a number from 0 to ${max}`);
  return v;
};

/**
 * Reads the parts of app.json Slipway honours (as Dokku does): web startup
 * health checks and the predeploy/postdeploy scripts. A broken app.json fails
 * the deploy with the reason rather than being silently ignored.
 */
export function readAppJson(dir: string): AppJson {
  const empty: AppJson = { healthchecks: { web: [] }, scripts: {} };
  const text = readAppFile(dir, 'app.json');
  if (text === undefined) return empty;
  let raw: any;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw invalid(`app.json is not valid JSON (${(err as Error).message})`, 'fix app.json and push again');
  }
  const web = raw?.healthchecks?.web ?? [];
  if (!Array.isArray(web)) throw invalid('app.json: healthchecks.web must be a list of checks');
  const checks = web
    .filter((c: any) => !c?.type || c.type === 'startup')
    .map((c: any, i: number): HealthCheck => {
      const p = c?.path ?? '/';
      if (typeof p !== 'string' || !p.startsWith('/') || p.length > 2000)
        throw invalid(`app.json: healthcheck ${i + 1} path must start with "/"`);
      if (c.content !== undefined && typeof c.content !== 'string') throw invalid(`app.json: healthcheck ${i + 1} content must be text`);
      return {
        name: typeof c.name === 'string' ? c.name : `check ${i + 1}`,
        path: p,
        content: c.content,
        timeout: num(c.timeout, 5, 600, 'timeout'),
        attempts: Math.max(1, Math.round(num(c.attempts, 5, 1000, 'attempts'))),
        wait: num(c.wait, 1, 600, 'wait'),
        initialDelay: num(c.initialDelay, 0, 600, 'initialDelay'),
      };
    });
  const scripts = raw?.scripts?.dokku ?? raw?.scripts ?? {};
  return {
    healthchecks: { web: checks },
    scripts: {
      predeploy: typeof scripts.predeploy === 'string' ? scripts.predeploy : undefined,
      postdeploy: typeof scripts.postdeploy === 'string' ? scripts.postdeploy : undefined,
    },
  };
}
