import { execFile } from 'node:child_process';

export interface WrkOptions {
  url: string;
  /** Sent as the Host header (routers pick the app by it). */
  host?: string;
  threads: number;
  connections: number;
  durationS: number;
}

export interface WrkResult {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  requests: number;
  /** Non-2xx/3xx answers plus socket errors: a healthy run has 0. */
  errors: number;
}

/** The command line, for the JSON document: what was run, exactly. */
export function wrkArgs(o: WrkOptions): string[] {
  const args = [`-t${o.threads}`, `-c${o.connections}`, `-d${o.durationS}s`, '--latency'];
  if (o.host) args.push('-H', `Host: ${o.host}`);
  return [...args, o.url];
}

export function runWrk(o: WrkOptions): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    execFile('wrk', wrkArgs(o), { timeout: (o.durationS + 30) * 1000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`wrk failed: ${err.message}\n${stderr}`));
      try {
        resolve(parseWrk(stdout));
      } catch (e) {
        reject(e);
      }
    });
  });
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/** Reads wrk's text report (`--latency` is needed for the percentiles). */
export function parseWrk(text: string): WrkResult {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(text);
  const requests = /^\s*(\d+) requests in /m.exec(text);
  const pct = (p: number): number => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text);
    if (!m) throw new Error(`wrk output has no ${p}% latency (was --latency given?):\n${text}`);
    return Number(m[1]) * UNIT_MS[m[2]!]!;
  };
  if (!rps || !requests) throw new Error(`unexpected wrk output:\n${text}`);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const socketErrors = socket ? socket.slice(1).reduce((n, v) => n + Number(v), 0) : 0;
  return { rps: Number(rps[1]), p50_ms: pct(50), p99_ms: pct(99), requests: Number(requests[1]), errors: non2xx + socketErrors };
}
