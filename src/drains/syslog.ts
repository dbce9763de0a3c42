import os from 'node:os';

/** One log line on its way to a drain. */
export interface LogRecord {
  /** RFC 3339 timestamp, as the app's log stamped it. */
  time: string;
  /** `web.1`, `router`, `deploy`: the PROCID of the message. */
  procid: string;
  /** True for Slipway's own lines about a process (start, crash, drops): MSGID `slipway`. */
  own: boolean;
  msg: string;
}

/** local7.info, Heroku's choice for app lines. */
const PRI = '<190>';
const NILVALUE = '-';

/** A header field of RFC 5424: printable US-ASCII without spaces, cut to its maximum length, never empty. */
function field(text: string, max: number): string {
  const clean = text.replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return clean || NILVALUE;
}

/** The server's name in every message (HOSTNAME, at most 255 characters). */
export const HOSTNAME = field(os.hostname(), 255);

/** `<190>1 TIMESTAMP HOSTNAME APP PROCID MSGID - MSG`: one RFC 5424 message (no structured data). */
export function rfc5424(rec: LogRecord, app: string, hostname = HOSTNAME): string {
  return `${PRI}1 ${rec.time} ${field(hostname, 255)} ${field(app, 48)} ${field(rec.procid, 128)} ${rec.own ? 'slipway' : NILVALUE} ${NILVALUE} ${rec.msg}`;
}

/** RFC 6587 octet counting: `LENGTH SP MESSAGE`, the length in bytes (a UTF-8 character may take four). */
export function octetFrame(message: string): string {
  return `${Buffer.byteLength(message, 'utf8')} ${message}`;
}

const STAMPED = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (?:slipway\[([^\]\s]{1,128})\]|([^\s:]{1,128})): ?/;

/**
 * The records in a chunk of an app's log file: lines stamped by LogWriter as
 * `TIME web.1: text` (the app's output) or `TIME slipway[web.1]: text`
 * (Slipway's own). A line of another shape keeps its text, stamped now.
 */
export function parseLogChunk(data: Buffer): LogRecord[] {
  const records: LogRecord[] = [];
  for (const line of data.toString('utf8').split('\n')) {
    if (!line) continue;
    const m = STAMPED.exec(line);
    if (m) records.push({ time: m[1]!, procid: m[2] ?? m[3]!, own: m[2] !== undefined, msg: line.slice(m[0].length) });
    else records.push({ time: new Date().toISOString(), procid: 'app', own: false, msg: line });
  }
  return records;
}
