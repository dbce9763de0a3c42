import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { SlipwayError } from '../errors.js';

/**
 * Receiving a raw `.tar.gz` request body (what `curl --data-binary @app.tgz`
 * sends) straight to a file: never buffered in memory, hashed while it is
 * written, refused as soon as it is too large or is not gzip.
 */
export interface ReceiveOptions {
  /** Directory the file is written into (created); the app's own `uploads/`. */
  dir: string;
  /** File name prefix: `artifact`, `source`. */
  prefix: string;
  maxBytes: number;
  /** Expected sha256 (lowercase hex); a mismatch is refused and the file removed. */
  sha256?: string;
  /** What the body may be, told by its first bytes; default gzip only. */
  formats?: UploadFormat[];
}

export type UploadFormat = 'gzip' | 'zip';
const MAGIC: Record<UploadFormat, [number, number]> = { gzip: [0x1f, 0x8b], zip: [0x50, 0x4b] };

export interface Upload {
  file: string;
  sha256: string;
  size: number;
  format: UploadFormat;
}

/** Content types an upload may be sent as; anything else gets a 415 that says what to send. */
export const UPLOAD_MEDIA_TYPES = [
  'application/gzip',
  'application/x-gzip',
  'application/octet-stream',
  'application/x-tgz',
  'application/tar+gzip',
];

export function checkMediaType(contentType: string | undefined): void {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (UPLOAD_MEDIA_TYPES.includes(type)) return;
  throw new SlipwayError(
    'unsupported_media_type',
    type ? `uploads are raw .tar.gz bodies, not ${type}` : 'the upload has no Content-Type',
    {
      status: 415,
      hint: "send the file itself with -H 'Content-Type: application/gzip' --data-binary @app.tgz",
    },
  );
}

/** Refuses a declared Content-Length over the limit before a byte of the body is read. */
export function checkDeclaredLength(contentLength: string | undefined, maxBytes: number): void {
  if (contentLength !== undefined && Number(contentLength) > maxBytes) throw tooLarge(maxBytes);
}

export async function receiveUpload(body: Readable, opts: ReceiveOptions): Promise<Upload> {
  await fsp.mkdir(opts.dir, { recursive: true });
  const formats = opts.formats ?? ['gzip'];
  const file = path.join(
    opts.dir,
    `${opts.prefix}-${crypto.randomUUID()}${formats.length === 1 && formats[0] === 'gzip' ? '.tar.gz' : '.upload'}`,
  );
  try {
    const { sha256, size, format } = await writeBody(body, file, opts.maxBytes, formats);
    if (opts.sha256 && opts.sha256 !== sha256) {
      throw new SlipwayError('sha256_mismatch', `the upload's sha256 is ${sha256}, not ${opts.sha256} as sent; nothing was deployed`, {
        status: 422,
        hint: 'the file changed or was damaged on the way; compute the checksum of the file you send and send it again',
      });
    }
    return { file, sha256, size, format };
  } catch (err) {
    await fsp.rm(file, { force: true });
    throw err;
  }
}

/**
 * Copies the body to `file` with backpressure. The request stream is never
 * destroyed on a refusal: the rest of the body is read and dropped, so the
 * error answer still reaches the client on the same connection.
 */
function writeBody(
  body: Readable,
  file: string,
  maxBytes: number,
  formats: UploadFormat[],
): Promise<{ sha256: string; size: number; format: UploadFormat }> {
  return new Promise((resolve, reject) => {
    const out = fs.createWriteStream(file, { flags: 'wx', mode: 0o600 });
    const hash = crypto.createHash('sha256');
    let size = 0;
    let head = Buffer.alloc(0);
    let format: UploadFormat = formats[0]!;
    let ended = false;
    let settled = false;
    // Errors after the outcome is decided (a write in flight when `out` is destroyed, a reset
    // socket) must not reach an 'error' event without a listener: that would end the daemon.
    const ignore = () => undefined;
    const detach = () => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', stop);
      body.off('close', onClose);
      out.off('error', stop);
      body.on('error', ignore);
      out.on('error', ignore);
    };
    function stop(err: unknown) {
      if (settled) return;
      settled = true;
      detach();
      const refuse = () => reject(err instanceof SlipwayError ? err : storageError(err));
      // Answer once the client has finished sending (or after a bounded linger, as nginx's
      // lingering close does): answered earlier, the server closes while the client still
      // writes, and the reset that follows can wipe the answer from the client's socket.
      const fail = () => linger(body, refuse);
      body.resume();
      if (out.closed) fail();
      else {
        out.once('close', fail);
        out.destroy();
      }
    }
    function onData(chunk: Buffer) {
      size += chunk.length;
      if (size > maxBytes) return stop(tooLarge(maxBytes));
      if (head.length < 2) {
        head = Buffer.concat([head, chunk.subarray(0, 2 - head.length)]);
        if (head.length === 2) {
          const found = formats.find((f) => MAGIC[f][0] === head[0] && MAGIC[f][1] === head[1]);
          if (!found) return stop(notAccepted(head, formats));
          format = found;
        }
      }
      hash.update(chunk);
      if (!out.write(chunk)) {
        body.pause();
        out.once('drain', () => settled || body.resume());
      }
    }
    function onEnd() {
      ended = true;
      if (size === 0)
        return stop(
          new SlipwayError('empty_upload', 'the request body is empty', { hint: 'send the file with --data-binary @app.tgz (note the @)' }),
        );
      if (head.length < 2) return stop(notAccepted(head, formats));
      out.end();
    }
    function onClose() {
      if (!ended) stop(new SlipwayError('upload_interrupted', 'the upload ended before the whole body arrived', { hint: 'send it again' }));
    }
    // A client that went away while the request waited (for the mkdir above, or a check
    // before it) has already emitted 'close': without this the upload would wait forever.
    if (body.destroyed && !body.readableEnded) return onClose();
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', stop);
    body.once('close', onClose);
    out.once('error', stop);
    out.once('finish', () => {
      if (settled) return;
      settled = true;
      detach();
      resolve({ sha256: hash.digest('hex'), size, format });
    });
  });
}

/** How long and how much a refused upload is still read (and dropped) before the answer. */
const LINGER_MS = 5_000;
const LINGER_BYTES = 64 * 1024 * 1024;

function linger(body: Readable, then: () => void): void {
  if (body.readableEnded || body.destroyed) return then();
  let dropped = 0;
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    body.off('data', count);
    body.off('end', finish);
    body.off('close', finish);
    then();
  };
  const count = (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > LINGER_BYTES) finish();
  };
  const timer = setTimeout(finish, LINGER_MS);
  body.on('data', count);
  body.once('end', finish);
  body.once('close', finish);
  body.resume();
}

const tooLarge = (maxBytes: number) =>
  new SlipwayError('upload_too_large', `the upload is larger than this server's limit of ${formatBytes(maxBytes)}`, {
    status: 413,
    hint: 'make the archive smaller, or start the server with a larger --max-upload-mb (SLIPWAY_MAX_UPLOAD_MB)',
  });

const notGzip = (head: Buffer) =>
  new SlipwayError(
    'not_gzip',
    `the upload is not a gzip file (it starts with ${head.length ? `0x${head.toString('hex')}` : 'less than two bytes'})`,
    {
      status: 415,
      hint: 'send a .tar.gz (tar -czf app.tgz -C DIR .) as the raw body: --data-binary @app.tgz, not -d or -F',
    },
  );

const notAccepted = (head: Buffer, formats: UploadFormat[]) =>
  formats.includes('zip')
    ? new SlipwayError(
        'unsupported_archive',
        `the upload is neither a .zip nor a .tar.gz (it starts with ${head.length ? `0x${head.toString('hex')}` : 'less than two bytes'})`,
        {
          status: 415,
          hint: 'send the archive itself as the raw body: --data-binary @context.zip (or a .tar.gz), not -d or -F',
        },
      )
    : notGzip(head);

const storageError = (err: unknown) =>
  new SlipwayError('upload_failed', `could not store the upload: ${(err as Error).message}`, {
    status: (err as NodeJS.ErrnoException).code === 'ENOSPC' ? 507 : 500,
    cause: err,
  });

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3 && n % 1024 ** 3 === 0) return `${n / 1024 ** 3} GiB`;
  if (n >= 1024 ** 2) return `${+(n / 1024 ** 2).toFixed(2)} MiB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}

/**
 * `Expect: 100-continue`: upload routes answer it themselves once the caller,
 * the app and the declared size are accepted, so a refused upload of a large
 * file costs one round trip instead of the whole body.
 */
const continued = new WeakSet<http.IncomingMessage>();

export const expectsContinue = (req: http.IncomingMessage) => /100-continue/i.test(String(req.headers.expect ?? ''));

export function sendContinue(req: http.IncomingMessage, res: http.ServerResponse): void {
  if (!expectsContinue(req) || continued.has(req)) return;
  continued.add(req);
  res.writeContinue();
}

/** True when the client still waits for `100 Continue` and so never sent its body: the answer must close the connection. */
export const awaitsContinue = (req: http.IncomingMessage) => expectsContinue(req) && !continued.has(req);
