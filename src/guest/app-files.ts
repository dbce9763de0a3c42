import fs from 'node:fs';
import path from 'node:path';
import { kindOf } from '../egress/file.js';
import { invalid } from '../errors.js';

const { O_RDONLY, O_NONBLOCK, O_NOFOLLOW } = fs.constants;

/** A Procfile, app.json or .buildpacks is a few KB; a build's outcome a little more. */
export const APP_FILE_MAX_BYTES = 1024 * 1024;

/**
 * Reads a file an app controls — one of its source, its release or what its
 * build wrote (Procfile, app.json, .buildpacks, the build's outcome) — from
 * the daemon, which runs as root. Such a file may be a symlink to
 * /etc/shadow (its first bytes would come back in a parse error), to
 * /dev/zero (the read never ends and takes the daemon's memory), or a FIFO
 * the build made (a read that blocks the event loop for good). So: a link is
 * followed only while it stays inside `dir`, the file is opened without
 * following a link and without waiting for a writer, and read only if the
 * descriptor is a regular file of a bounded size.
 *
 * Undefined when the file does not exist; anything else it is not gets one line saying what.
 */
export function readAppFile(dir: string, name: string, maxBytes = APP_FILE_MAX_BYTES): string | undefined {
  const file = path.join(dir, name);
  let real: string;
  try {
    real = fs.realpathSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if (code === 'ELOOP') throw invalid(`${name} is a loop of symbolic links`, `commit ${name} itself, not a link`);
    throw err;
  }
  const root = fs.realpathSync(dir);
  if (real !== root && !real.startsWith(root + path.sep))
    throw invalid(`${name} links outside the app (to ${real}); only files of the app are read`, `commit ${name} itself, not a link`);
  let fd: number;
  try {
    fd = fs.openSync(real, O_RDONLY | O_NONBLOCK | O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Swapped for a link or removed between the two calls: the build is still at it, which it may not be.
    if (code === 'ELOOP' || code === 'ENOENT') throw invalid(`${name} changed while it was read`, 'push again');
    if (code === 'ENXIO') throw invalid(`${name} is a socket, not a file`, `commit ${name} as a regular file`);
    throw err;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw invalid(`${name} is ${kindOf(st)}, not a file`, `commit ${name} as a regular file`);
    if (st.size > maxBytes) throw invalid(`${name} has ${st.size} bytes; at most ${maxBytes} are read`, `make ${name} smaller`);
    // The size is a ceiling, not a promise: a file that grows while read is cut there.
    const buf = Buffer.alloc(st.size);
    let got = 0;
    while (got < buf.length) {
      const n = fs.readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}
