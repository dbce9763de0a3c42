import { execa } from 'execa';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import * as tar from 'tar';
import { SlipwayError } from '../errors.js';
import { checkArchive } from '../releases/archive.js';
import { normalizeEntryPath } from '../releases/link-walk.js';
import type { UploadFormat } from './upload.js';

/** Unpacked size a build context may have; a small zip must not unpack to fill the disk. */
const MAX_UNPACKED_BYTES = 4 * 1024 ** 3;

/**
 * Lists a zip's entries as JSON. A fixed program: the file name is its only
 * input, passed as an argument, never spliced into code or a shell line.
 */
const ZIP_LIST = `
import json, stat, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    out = []
    for i in z.infolist():
        mode = (i.external_attr >> 16) & 0o170000
        kind = 'dir' if i.is_dir() else 'link' if mode == stat.S_IFLNK else 'file' if mode in (0, stat.S_IFREG) else 'other'
        out.append({'name': i.filename, 'size': i.file_size, 'kind': kind})
print(json.dumps(out))
`;
const ZIP_DOCKERFILE = `
import stat, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for i in z.infolist():
        if i.filename.lstrip('./') == 'Dockerfile' and not i.is_dir() and ((i.external_attr >> 16) & 0o170000) in (0, stat.S_IFREG):
            if i.file_size > int(sys.argv[2]):
                sys.exit('the Dockerfile is too large')
            sys.stdout.write(z.read(i).decode('utf-8', 'replace'))
            break
`;
const ZIP_EXTRACT = `
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    z.extractall(sys.argv[2])
`;

/**
 * Refuses an uploaded build context (a `.tar.gz` or `.zip`) before any job
 * exists: entries with `..` or absolute paths, links leading out, devices,
 * too large when unpacked, or no `Dockerfile` at its root.
 */
export async function checkBuildContext(file: string, format: UploadFormat): Promise<void> {
  const names = format === 'zip' ? await checkZip(file) : await checkTar(file);
  if (names.includes('Dockerfile')) return;
  const nested = names.find((p) => /^[^/]+\/Dockerfile$/.test(p));
  throw new SlipwayError('no_dockerfile', 'the archive has no Dockerfile at its root', {
    status: 422,
    hint: nested
      ? `its Dockerfile is in ${nested.split('/')[0]}/: pack that directory's contents (cd ${nested.split('/')[0]} && zip -r ../context.zip .)`
      : 'put a Dockerfile at the top of the archive: tar -czf context.tgz -C DIR . (or cd DIR && zip -r ../context.zip .)',
  });
}

async function checkTar(file: string): Promise<string[]> {
  try {
    return (await checkArchive(file, MAX_UNPACKED_BYTES)).map(normalizeEntryPath);
  } catch (err) {
    if (!(err instanceof SlipwayError)) throw err;
    throw unsafe(err.message.replace('release archive', 'archive').replace('the app directory', 'the build context'), err);
  }
}

async function checkZip(file: string): Promise<string[]> {
  let entries: Array<{ name: string; size: number; kind: string }>;
  try {
    entries = JSON.parse(await python(['-c', ZIP_LIST, file]));
  } catch (err) {
    throw unsafe(`not a valid .zip archive (${lastLine(err)})`, err);
  }
  let total = 0;
  for (const e of entries) {
    const parts = e.name.split(/[\\/]/);
    if (path.posix.isAbsolute(e.name) || /^[A-Za-z]:/.test(e.name) || e.name.startsWith('\\') || parts.includes('..'))
      throw unsafe(`zip entry "${e.name}" points outside the build context`);
    if (e.kind === 'link')
      throw unsafe(
        `zip entry "${e.name}" is a symbolic link, which zip build contexts may not hold (send a .tar.gz to keep links inside the context)`,
      );
    if (e.kind === 'other') throw unsafe(`zip entry "${e.name}" is a device or other special file`);
    total += e.size;
    if (total > MAX_UNPACKED_BYTES) throw unsafe(`the zip unpacks to more than ${MAX_UNPACKED_BYTES} bytes`);
  }
  return entries.map((e) => normalizeEntryPath(e.name));
}

/** The most of a Dockerfile that is read to check what it starts from. */
const MAX_DOCKERFILE_BYTES = 1024 * 1024;

/**
 * The checked upload's root `Dockerfile` (a regular file; checkBuildContext
 * made sure there is one), read without unpacking the rest, so what it starts
 * from is checked before a job exists.
 */
export async function readContextDockerfile(file: string, format: UploadFormat): Promise<string> {
  if (format === 'zip') return python(['-c', ZIP_DOCKERFILE, file, String(MAX_DOCKERFILE_BYTES)]);
  const chunks: Buffer[] = [];
  let found: 'file' | 'other' | undefined;
  await tar.t({
    file,
    filter: (p) => normalizeEntryPath(p) === 'Dockerfile',
    onentry: (entry) => {
      found = entry.type === 'File' && (entry.size ?? 0) <= MAX_DOCKERFILE_BYTES ? 'file' : 'other';
      if (found === 'file') entry.on('data', (c: Buffer) => chunks.push(c));
    },
  });
  if (found !== 'file')
    throw new SlipwayError('dockerfile_not_file', 'the Dockerfile in the archive is a link, a directory or over 1 MiB', {
      status: 422,
      hint: 'put the Dockerfile itself at the root of the archive',
    });
  return Buffer.concat(chunks).toString('utf8');
}

export interface OpenedContext {
  /** A tar stream (gzip-compressed or not; the engine reads both). */
  stream: Readable;
  cleanup(): Promise<void>;
}

/** The checked upload as the tar stream the engine builds from; a zip is unpacked into `workDir` first. */
export async function openBuildContext(file: string, format: UploadFormat, workDir: string): Promise<OpenedContext> {
  if (format === 'gzip') return { stream: fs.createReadStream(file), cleanup: async () => undefined };
  await fsp.rm(workDir, { recursive: true, force: true });
  await fsp.mkdir(workDir, { recursive: true });
  const cleanup = () => fsp.rm(workDir, { recursive: true, force: true });
  try {
    await python(['-c', ZIP_EXTRACT, file, workDir]);
    const stream = tar.create({ cwd: workDir, portable: true, follow: false }, await fsp.readdir(workDir));
    return { stream: stream as unknown as Readable, cleanup };
  } catch (err) {
    await cleanup();
    throw new SlipwayError('unzip_failed', `could not unpack the zip: ${lastLine(err)}`, { status: 422, cause: err });
  }
}

async function python(args: string[]): Promise<string> {
  return (await execa('python3', ['-I', ...args], { cwd: '/', timeout: 300_000, maxBuffer: 64 * 1024 ** 2 })).stdout;
}

/** What Python said last (its exception), else why it did not finish; never the script itself, which execa's message quotes. */
const lastLine = (err: unknown) => {
  const e = err as { stderr?: string; timedOut?: boolean; message?: string };
  const text = String(e.stderr || (e.timedOut ? 'timed out' : e.message) || err).trim();
  return text.split('\n').at(-1) ?? text;
};

const unsafe = (message: string, cause?: unknown) =>
  new SlipwayError('unsafe_archive', message, {
    status: 400,
    hint: 'pack the build context itself, with relative paths and no links out of it: tar -czf context.tgz -C DIR . (or cd DIR && zip -r ../context.zip .)',
    cause,
  });
