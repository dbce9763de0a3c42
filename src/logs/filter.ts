import { invalid } from '../errors.js';

/** `--ps web` (every web instance) or `--ps web.1` (one instance). */
export interface ProcessFilter {
  type: string;
  index?: number;
}

const PS = /^([A-Za-z0-9_-]{1,63})(?:\.(\d{1,6}))?$/;

export function parseProcessFilter(ps: string): ProcessFilter {
  const m = PS.exec(ps);
  if (!m) throw invalid(`invalid --ps ${JSON.stringify(ps.slice(0, 70))}`, 'name a process type (web) or one instance of it (web.1)');
  return { type: m[1]!, index: m[2] === undefined ? undefined : Number(m[2]) };
}

/**
 * The instance a log line is about: `web.1` for the app's own output
 * (`<time> web.1: …`) and for Slipway's notes on it (`<time> slipway[web.1]: …`).
 */
export function lineInstance(line: string): string | undefined {
  const m = /^\S+ (?:slipway\[([^\]\s]+)\]|([^\s:[\]]+)): /.exec(line);
  return m ? (m[1] ?? m[2]) : undefined;
}

/** A predicate for `--ps`; without a filter every line passes. */
export function lineFilter(filter?: ProcessFilter): (line: string) => boolean {
  if (!filter) return () => true;
  if (filter.index !== undefined) {
    const want = `${filter.type}.${filter.index}`;
    return (line) => lineInstance(line) === want;
  }
  const prefix = `${filter.type}.`;
  return (line) => {
    const name = lineInstance(line);
    return name !== undefined && name.startsWith(prefix) && /^\d+$/.test(name.slice(prefix.length));
  };
}
