import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import * as tar from 'tar';
import { SlipwayError } from '../errors.js';
import { escapingEntry, normalizeEntryPath, type LinkEntry } from './link-walk.js';

/** Written at the root of every release archive, beside the app's Procfile. */
export const METADATA_FILE = '.slipway-release.json';

export interface ReleaseMetadata {
  /** Archive format version; bump when the layout changes incompatibly. */
  format: 1;
  app: string;
  version: number;
  commit: string | null;
  buildpacks: string[];
  processTypes: Record<string, string>;
  /** Buildpack `config_vars` defaults; app config overrides them at run time. */
  configVars: Record<string, string>;
  /** Dockerfile apps: the image id built from this source; a rollback reuses it while it exists. */
  image?: string;
  createdAt: string;
}

export interface ArchiveInfo {
  path: string;
  sha256: string;
  size: number;
}

export interface CreateArchiveOptions {
  /** Directory to pack: the runnable app, Procfile at its root. */
  dir: string;
  /** Directory the archive is written to; the file is named `v<N>-<sha256>.tar.gz`. */
  destDir: string;
  version: number;
  /** Top-level names left out (e.g. the `data` link to persistent storage). */
  exclude?: string[];
  /** Called once the archive is written under its temporary name (the crash test stops the daemon there). */
  beforeRename?: () => void;
}

/** Packs a release directory into `vN-<sha256>.tar.gz`, hashing while it writes. */
export async function createArchive(opts: CreateArchiveOptions): Promise<ArchiveInfo> {
  await fsp.mkdir(opts.destDir, { recursive: true });
  const exclude = new Set(opts.exclude ?? []);
  const entries = (await fsp.readdir(opts.dir)).filter((e) => !exclude.has(e)).sort();
  const tmp = path.join(opts.destDir, `.v${opts.version}-${process.pid}-${Date.now()}.tmp`);
  const hash = crypto.createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  try {
    await pipeline(
      tar.create({ gzip: { level: 6 }, cwd: opts.dir, portable: true, follow: false }, entries.length ? entries : []),
      tap,
      fs.createWriteStream(tmp),
    );
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw new SlipwayError('archive_failed', `could not write the release archive: ${(err as Error).message}`, { cause: err, status: 500 });
  }
  opts.beforeRename?.();
  const sha256 = hash.digest('hex');
  const file = path.join(opts.destDir, `v${opts.version}-${sha256}.tar.gz`);
  await fsp.rename(tmp, file);
  return { path: file, sha256, size };
}

export async function sha256File(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  await pipeline(fs.createReadStream(file), hash);
  return hash.digest('hex');
}

export interface UnpackOptions {
  archive: string;
  dest: string;
  /** Refuse archives whose unpacked size exceeds this many bytes. */
  maxBytes?: number;
  /** Expected sha256 of the archive file; refused when it differs. */
  sha256?: string;
}

/**
 * Unpacks an archive into an empty directory after checking every entry first,
 * so a hostile archive is refused before a single byte is written: no absolute
 * paths, no `..`, no links leaving the tree, no devices.
 */
export async function unpackArchive(opts: UnpackOptions): Promise<void> {
  if (opts.sha256) {
    const actual = await sha256File(opts.archive);
    if (actual !== opts.sha256.toLowerCase()) {
      throw bad(
        `sha256 mismatch: expected ${opts.sha256}, the archive has ${actual}`,
        'upload the file again, or check the checksum you sent',
      );
    }
  }
  await checkEntries(opts.archive, opts.maxBytes ?? 4 * 1024 ** 3);
  await fsp.mkdir(opts.dest, { recursive: true });
  await tar.extract({ file: opts.archive, cwd: opts.dest, strict: true, preserveOwner: false });
}

/**
 * The checks `unpackArchive` makes, without writing anything: for entrances
 * (API uploads) that must refuse a hostile archive before any job exists.
 * Returns the entry paths as the archive names them.
 */
export async function checkArchive(file: string, maxBytes = 4 * 1024 ** 3): Promise<string[]> {
  return checkEntries(file, maxBytes);
}

async function checkEntries(file: string, maxBytes: number): Promise<string[]> {
  let total = 0;
  let problem: SlipwayError | undefined;
  const paths: string[] = [];
  const entries: LinkEntry[] = [];
  const onReadEntry = (e: tar.ReadEntry) => {
    const p = e.path;
    paths.push(p);
    entries.push({ path: normalizeEntryPath(p), type: e.type, linkpath: e.linkpath });
    total += e.size ?? 0;
    if (problem) return;
    if (path.isAbsolute(p) || p.split('/').includes('..')) problem = bad(`archive entry "${p}" points outside the app directory`);
    else if (e.type === 'SymbolicLink' && escapes(p, e.linkpath ?? ''))
      problem = bad(`archive symlink "${p}" -> "${e.linkpath}" points outside the app directory`);
    else if (e.type === 'Link' && escapes(p, e.linkpath ?? '', true))
      problem = bad(`archive hard link "${p}" points outside the app directory`);
    else if (!['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link'].includes(e.type))
      problem = bad(`archive entry "${p}" is a ${e.type}, which releases may not contain`);
    else if (total > maxBytes)
      problem = bad(`archive unpacks to more than ${maxBytes} bytes`, 'raise the limit or make the release smaller');
  };
  try {
    await tar.list({ file, strict: true, onReadEntry });
  } catch (err) {
    throw bad(`not a valid .tar.gz release archive (${(err as Error).message})`, 'send a gzip-compressed tar of the app directory');
  }
  if (problem) throw problem;
  // Each link judged alone can pass while a chain of them leaves the tree (`a -> b/..`, `c -> a/..`).
  const escaping = escapingEntry(entries);
  if (escaping) throw bad(`archive entry "${escaping}" leads outside the app directory through the archive's own symlinks`);
  return paths;
}

/** True when a link target resolves outside the archive root (checked against a sentinel root). */
function escapes(entry: string, target: string, fromRoot = false): boolean {
  if (path.isAbsolute(target)) return true;
  const root = '/__slipway_root__';
  const base = fromRoot ? root : path.posix.dirname(path.posix.join(root, entry));
  const resolved = path.posix.resolve(base, target);
  return !(resolved === root || resolved.startsWith(root + '/'));
}

const bad = (message: string, hint?: string) => new SlipwayError('bad_archive', message, { status: 422, hint });

export async function readMetadata(dir: string): Promise<ReleaseMetadata | undefined> {
  try {
    return JSON.parse(await fsp.readFile(path.join(dir, METADATA_FILE), 'utf8')) as ReleaseMetadata;
  } catch {
    return undefined;
  }
}

export async function writeMetadata(dir: string, meta: ReleaseMetadata): Promise<void> {
  await fsp.writeFile(path.join(dir, METADATA_FILE), JSON.stringify(meta, null, 2) + '\n');
}
