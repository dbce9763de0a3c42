import fs from 'node:fs';
import fsp from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { egressError, type EgressSettings, type Target } from './policy.js';

const { O_RDONLY, O_NONBLOCK, O_NOFOLLOW } = fs.constants;

export interface OpenedFile {
  stream: Readable;
  size: number;
}

/**
 * Opens a file a setting names, for reading, only if it is a regular file.
 * O_NONBLOCK: opening a FIFO never waits for a writer (a blocked open holds
 * one of libuv's four pool threads, and four of them stop every file
 * operation of the server); O_NOFOLLOW: a symlink is not followed to
 * wherever it points. The type is checked on the descriptor itself (fstat),
 * so nothing can be swapped in between the check and the read.
 */
export async function openRegularFile(file: string, target: Target, settings: Pick<EgressSettings, 'maxBytes'>): Promise<OpenedFile> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(file, O_RDONLY | O_NONBLOCK | O_NOFOLLOW);
  } catch (err) {
    throw egressError(target, openFailure((err as NodeJS.ErrnoException).code), 'name a regular file the server can read');
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw egressError(target, `is ${kindOf(st)}; only regular files are read`, 'name a regular file');
    if (st.size > settings.maxBytes)
      throw egressError(target, `is ${st.size} bytes, more than the ${settings.maxBytes} bytes allowed (the server's --max-upload-mb)`);
    // The stream owns the descriptor from here: it closes it at its end or on an error.
    return { stream: handle.createReadStream(), size: st.size };
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
}

function openFailure(code: string | undefined): string {
  switch (code) {
    case 'ENOENT':
      return 'does not exist';
    case 'ELOOP':
      return 'is a symbolic link; only regular files are read';
    case 'ENXIO':
      return 'is a socket; only regular files are read';
    case 'EACCES':
    case 'EPERM':
      return 'cannot be read by the server';
    case 'EISDIR':
      return 'is a directory; only regular files are read';
    case 'ENOTDIR':
      return 'does not exist (a part of its path is not a directory)';
    default:
      return `cannot be opened (${code ?? 'error'})`;
  }
}

/** What a file that is not a regular file is, for a refusal: "is a FIFO". */
export function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}
