import type http from 'node:http';
import { hasBody, type Answer, type BodySink } from './forward.js';

/**
 * Headers that only mean something on one HTTP/1.1 connection. HTTP/2 forbids
 * them, and Node's HTTP/2 server throws when asked to send one — from inside
 * the proxy's response handler, where nothing would catch it.
 */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);

/** The statuses each protocol can carry as a final answer (Node refuses the others with a throw). */
const validStatus = (status: number, http2: boolean) => (http2 ? status >= 200 && status <= 599 : status >= 100 && status <= 999);

/**
 * What http-proxy-3's own response passes do, for the options the router uses,
 * made safe for any answer a backend can send: connection-specific headers are
 * never relayed to an HTTP/2 client, and a status the client's protocol cannot
 * carry becomes the router's 502. Returns where the body goes, or undefined
 * when it did not relay the answer (the caller answers instead).
 */
export function relayResponse(req: http.IncomingMessage, res: http.ServerResponse, answer: Answer): BodySink | undefined {
  const http2 = req.httpVersionMajor >= 2;
  const status = answer.statusCode;
  if (!validStatus(status, http2)) return undefined;
  const headers = answer.headers;
  if (http2) {
    // Every name Connection lists is hop-by-hop too (RFC 9110 §7.6.1).
    const named = String(headers.connection ?? '')
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean);
    for (const name of [...CONNECTION_SPECIFIC, ...named]) delete headers[name];
    // A request header; in an answer Node's HTTP/2 takes only the exact value "trailers", and resets the stream else.
    delete headers.te;
  } else if (req.httpVersion === '1.0') {
    // An HTTP/1.0 client cannot read chunks, and closes unless it asked otherwise.
    delete headers['transfer-encoding'];
    headers.connection = req.headers.connection ?? 'close';
  } else {
    // The backend's connection is the router's: whether the client's stays open is Node's to say
    // from the client's own request (a client's Connection: close is honoured).
    delete headers.connection;
    delete headers['keep-alive'];
  }
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) res.setHeader(name, value);
  res.statusCode = status;
  if (!http2 && answer.statusMessage) res.statusMessage = answer.statusMessage;
  // An answer before the upload ended: the connection closes after it (the rest is not read).
  if (!http2 && hasBody(req) && !req.complete) res.shouldKeepAlive = false;
  // The head is checked now, where a throw is the caller's 502, not when the body ends.
  if (!http2) res.writeHead(status);
  const length = Number(headers['content-length']);
  return length >= 0 && length <= SMALL_BODY ? wholeSink(res) : streamSink(res);
}

/** Answers up to this size are read whole and sent in one write with their headers (as nginx's proxy_buffering does). */
const SMALL_BODY = 64 * 1024;

/**
 * A small answer of known length: headers and body leave in one write, not
 * one for the headers and body, then another as the stream ends. An answer
 * cut short by the backend cuts the client's too.
 */
function wholeSink(res: http.ServerResponse): BodySink {
  const chunks: Buffer[] = [];
  return {
    data: (chunk) => (chunks.push(chunk), true),
    onDrain: () => undefined,
    end: () => void res.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)),
    fail: () => void res.destroy(),
  };
}

/** Any other answer, written as it comes, at the client's pace. */
function streamSink(res: http.ServerResponse): BodySink {
  return {
    data: (chunk) => res.write(chunk),
    onDrain: (resume) => void res.once('drain', resume),
    end: () => void res.end(),
    fail: () => void res.destroy(),
  };
}
