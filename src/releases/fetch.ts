import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { egressError, egressGet, openRegularFile, refuseLocal, shownUrl, type EgressSettings, type Target } from '../egress/index.js';
import { SlipwayError } from '../errors.js';

export interface FetchOptions {
  url: string;
  /** Directory the archive is written into (created). */
  destDir: string;
  /** Address rules, timeouts and the size limit. */
  egress: EgressSettings;
  /** The setting the URL came from, for messages (`artifact_urls`). */
  setting: string;
  /** True when an admin set this URL: only then may it be a file URL. */
  trusted: boolean;
  signal?: AbortSignal;
}

export interface Fetched {
  file: string;
  sha256: string;
  size: number;
}

/**
 * Fetches one release archive named by an `artifact_urls` entry: http(s)
 * through the egress rules, or (set by an admin) a regular file. A
 * `#sha256=HEX` fragment pins the content; a mismatch is refused.
 */
export async function fetchArchive(opts: FetchOptions): Promise<Fetched> {
  const target: Target = { setting: opts.setting, url: opts.url };
  let url: URL;
  try {
    url = new URL(opts.url);
  } catch {
    throw egressError(target, 'is not a URL');
  }
  const pinned = /(?:^|&)sha256=([0-9a-f]{64})$/i.exec(url.hash.slice(1))?.[1]?.toLowerCase();
  url.hash = '';
  let body: Readable;
  let done = () => undefined as void;
  if (url.protocol === 'file:') {
    refuseLocal(target, opts.trusted);
    body = (await openRegularFile(fileURLToPath(url), target, opts.egress)).stream;
  } else if (url.protocol === 'http:' || url.protocol === 'https:') {
    const got = await egressGet({ url, target, settings: opts.egress, signal: opts.signal });
    body = got.response;
    done = got.done;
  } else {
    throw egressError(
      target,
      `uses ${url.protocol.replace(/:$/, '')}:; only http and https are fetched (file URLs when an admin sets them)`,
      'use an http:// or https:// URL',
    );
  }
  await fsp.mkdir(opts.destDir, { recursive: true });
  const file = path.join(opts.destDir, `fetched-${crypto.randomUUID()}.tar.gz`);
  const hash = crypto.createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      if (size > opts.egress.maxBytes)
        return cb(egressError(target, `is larger than the ${opts.egress.maxBytes} bytes allowed (the server's --max-upload-mb)`));
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  try {
    await pipeline(body, meter, fs.createWriteStream(file));
  } catch (err) {
    await fsp.rm(file, { force: true });
    throw err instanceof SlipwayError
      ? err
      : egressError(target, `could not be fetched: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  } finally {
    done();
  }
  const sha256 = hash.digest('hex');
  if (pinned && pinned !== sha256) {
    await fsp.rm(file, { force: true });
    throw new SlipwayError('fetch_failed', `sha256 mismatch for ${shownUrl(url.href)}: expected ${pinned}, got ${sha256}`, {
      status: 422,
      hint: 'the artifact changed or is corrupt; fix the URL or its #sha256= pin',
    });
  }
  return { file, sha256, size };
}
