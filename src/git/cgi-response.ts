import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';

/** A CGI program that writes more than this before its blank line is broken. */
const MAX_HEADER_BYTES = 64 * 1024;

export interface CgiHead {
  status: number;
  statusMessage?: string;
  headers: Array<[string, string]>;
}

/**
 * Parses a CGI header block (`Status: 404 Not Found`, `Content-Type: …`).
 * Returns undefined for a malformed block.
 */
export function parseCgiHead(text: string): CgiHead | undefined {
  const head: CgiHead = { status: 200, headers: [] };
  for (const line of text.split(/\r?\n/)) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') {
      const m = /^(\d{3})(?:\s+(.*))?$/.exec(value);
      if (!m) return undefined;
      head.status = Number(m[1]);
      head.statusMessage = m[2] || undefined;
    } else {
      head.headers.push([name, value]);
    }
  }
  return head;
}

/** Where the header block ends: index of the blank line and its length. */
function headerEnd(buf: Buffer): { at: number; length: number } | undefined {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf < 0 && lf < 0) return undefined;
  if (lf < 0 || (crlf >= 0 && crlf < lf)) return { at: crlf, length: 4 };
  return { at: lf, length: 2 };
}

export interface RelayResult {
  /** False when the program ended or broke before a valid header block. */
  headersSent: boolean;
}

/**
 * Relays a CGI program's stdout to an HTTP response: the header block becomes
 * the status line and headers (flushed at once), and the body is written
 * chunk by chunk as it arrives — never collected — so git's sideband (hook
 * output during a push) reaches the client live. Honours backpressure, and
 * once the client has gone, keeps draining the program so it is not blocked
 * on a full pipe. Resolves when stdout ends.
 */
export function relayCgiResponse(stdout: Readable, res: ServerResponse): Promise<RelayResult> {
  return new Promise((resolve) => {
    let pending: Buffer = Buffer.alloc(0);
    let headersSent = false;
    let failed = false;
    let clientGone = false;
    res.once('close', () => {
      clientGone = true;
      stdout.resume();
    });

    const writeBody = (chunk: Buffer) => {
      if (clientGone || chunk.length === 0) return;
      if (!res.write(chunk)) {
        stdout.pause();
        res.once('drain', () => stdout.resume());
      }
    };

    stdout.on('data', (chunk: Buffer) => {
      if (failed) return;
      if (headersSent) return writeBody(chunk);
      pending = Buffer.concat([pending, chunk]);
      const end = headerEnd(pending);
      if (!end) {
        if (pending.length > MAX_HEADER_BYTES) failed = true;
        return;
      }
      const head = parseCgiHead(pending.subarray(0, end.at).toString('latin1'));
      if (!head) {
        failed = true;
        return;
      }
      if (!clientGone) {
        res.statusCode = head.status;
        if (head.statusMessage) res.statusMessage = head.statusMessage;
        for (const [name, value] of head.headers) res.appendHeader(name, value);
        res.flushHeaders();
      }
      headersSent = true;
      writeBody(pending.subarray(end.at + end.length));
      pending = Buffer.alloc(0);
    });
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      if (headersSent && !clientGone) res.end();
      resolve({ headersSent });
    };
    stdout.once('end', finish);
    stdout.once('close', finish);
    stdout.once('error', finish);
  });
}
