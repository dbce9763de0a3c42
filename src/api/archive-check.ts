import * as tar from 'tar';
import { parseProcfile } from '../builder/procfile.js';
import { SlipwayError } from '../errors.js';
import { METADATA_FILE, checkArchive } from '../releases/archive.js';
import { normalizeEntryPath, type LinkEntry } from '../releases/link-walk.js';

/**
 * What an uploaded archive must be before a job is made from it: safe to
 * unpack (the same checks as `unpackArchive`, plus links that only leave the
 * tree through other links), and — for a release artifact — runnable, with its
 * process types at the root (a Procfile, or the metadata a Slipway bundle carries).
 */
export async function checkUploadedArchive(file: string, opts: { requireProcessTypes: boolean }): Promise<void> {
  await checkArchive(file).catch((err: unknown) => {
    if (!(err instanceof SlipwayError) || err.hint) throw err;
    throw new SlipwayError(err.code, err.message, { status: err.status, hint: SAFE_ARCHIVE, cause: err });
  });
  const scan = await scanArchive(file, [`Procfile`, METADATA_FILE]);
  if (!opts.requireProcessTypes) return;
  let types: Record<string, string> = {};
  if (scan.files.Procfile !== undefined) types = parseProcfile(scan.files.Procfile);
  if (!Object.keys(types).length && scan.files[METADATA_FILE] !== undefined) types = metadataTypes(scan.files[METADATA_FILE]);
  if (Object.keys(types).length) return;
  const nested = scan.entries.map((e) => e.path).find((p) => /^[^/]+\/Procfile$/.test(p));
  throw new SlipwayError('no_process_types', `the archive has no Procfile (or ${METADATA_FILE} with process types) at its root`, {
    status: 422,
    hint: nested
      ? `its Procfile is in ${nested.split('/')[0]}/: pack that directory's contents, tar -czf app.tgz -C ${nested.split('/')[0]} .`
      : 'add a Procfile such as `web: node server.js` at the top of the archive (tar -czf app.tgz -C DIR .)',
  });
}

const SAFE_ARCHIVE = 'pack the app directory itself, with relative paths, no links out of it and no devices: tar -czf app.tgz -C DIR .';

/** Every entry's path, type and link target, and the text of the wanted root files (up to 1 MiB each). */
async function scanArchive(file: string, rootFiles: string[]): Promise<{ entries: LinkEntry[]; files: Record<string, string> }> {
  const wanted = new Set(rootFiles);
  const entries: LinkEntry[] = [];
  const files: Record<string, string> = {};
  await tar.list({
    file,
    onReadEntry: (e) => {
      const p = normalizeEntryPath(e.path);
      entries.push({ path: p, type: e.type, linkpath: e.linkpath });
      if (!wanted.has(p) || (e.type !== 'File' && e.type !== 'OldFile')) return;
      const chunks: Buffer[] = [];
      let size = 0;
      e.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= 1024 * 1024) chunks.push(c);
      });
      e.on('end', () => (files[p] = Buffer.concat(chunks).toString('utf8')));
    },
  });
  return { entries, files };
}

function metadataTypes(text: string): Record<string, string> {
  let meta: unknown;
  try {
    meta = JSON.parse(text);
  } catch {
    throw new SlipwayError('bad_archive', `${METADATA_FILE} in the archive is not valid JSON`, { status: 422 });
  }
  const types = (meta as { processTypes?: unknown } | null)?.processTypes;
  if (!types || typeof types !== 'object') return {};
  return Object.fromEntries(Object.entries(types).filter(([, c]) => typeof c === 'string' && c.trim())) as Record<string, string>;
}
