import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { SlipwayError } from '../errors.js';

export interface FetchOptions {
  url: string;
  /** Directory the archive is written into (created). */
  destDir: string;
  maxBytes: number;
  signal?: AbortSignal;
}

export interface Fetched {
  file: string;
  sha256: string;
  size: number;
}

/**
 * Fetches one release archive named by an `artifact_urls` entry: http(s) or
 * file URLs. A `#sha256=HEX` fragment pins the content; a mismatch is refused.
 */
export async function fetchArchive(opts: FetchOptions): Promise<Fetched> {
  let url: URL;
  try {
    url = new URL(opts.url);
  } catch {
    throw bad(`"${opts.url}" is not a URL`);
  }
  const pinned = /(?:^|&)sha256=([0-9a-f]{64})$/i.exec(url.hash.slice(1))?.[1]?.toLowerCase();
  url.hash = '';
  let body: Readable;
  if (url.protocol === 'file:') {
    const file = fileURLToPath(url);
    if (!fs.existsSync(file)) throw bad(`${file} does not exist`);
    body = fs.createReadStream(file);
  } else if (url.protocol === 'http:' || url.protocol === 'https:') {
    const res = await fetch(url, { signal: opts.signal, redirect: 'follow' }).catch((err: Error) => {
      throw bad(`could not fetch ${url}: ${(err.cause as Error)?.message ?? err.message}`);
    });
    if (!res.ok || !res.body) throw bad(`fetching ${url} answered ${res.status} ${res.statusText}`);
    body = Readable.fromWeb(res.body as never);
  } else {
    throw bad(`unsupported URL scheme ${url.protocol}`, 'use http://, https:// or file://');
  }
  await fsp.mkdir(opts.destDir, { recursive: true });
  const file = path.join(opts.destDir, `fetched-${crypto.randomUUID()}.tar.gz`);
  const hash = crypto.createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      if (size > opts.maxBytes) return cb(bad(`${url} is larger than ${opts.maxBytes} bytes`));
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  try {
    await pipeline(body, meter, fs.createWriteStream(file));
  } catch (err) {
    await fsp.rm(file, { force: true });
    throw err instanceof SlipwayError ? err : bad(`could not fetch ${url}: ${(err as Error).message}`);
  }
  const sha256 = hash.digest('hex');
  if (pinned && pinned !== sha256) {
    await fsp.rm(file, { force: true });
    throw bad(`sha256 mismatch for ${url}: expected ${pinned}, got ${sha256}`, 'the artifact changed or is corrupt; fix the URL or its #sha256= pin');
  }
  return { file, sha256, size };
}

const bad = (message: string, hint?: string) => new SlipwayError('fetch_failed', message, { status: 422, hint });
