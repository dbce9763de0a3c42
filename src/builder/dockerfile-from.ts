import fsp from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import { SlipwayError } from '../errors.js';
import { STACK_IMAGE } from '../docker/engine.js';

/** A Dockerfile larger than this is not a Dockerfile anyone writes by hand; refuse rather than parse it. */
const MAX_DOCKERFILE_BYTES = 1024 * 1024;

/** An image a Dockerfile reads from, and the line that names it (for the error). */
export interface BaseRef {
  image: string;
  line: number;
}

const cannot = (what: string, line: number) =>
  new SlipwayError('dockerfile_unresolved', `Dockerfile line ${line}: cannot tell which image ${what} names`, {
    status: 422,
    hint: 'name the image directly (FROM node:20), or through an ARG with a default declared before the first FROM',
  });

/**
 * Every image a Dockerfile reads from: each stage's `FROM` (not `scratch`,
 * not an earlier stage), `COPY --from=`, `RUN --mount=…,from=`, and the same
 * inside `ONBUILD`. Variables are resolved the way the engine does for FROM in
 * the simple case (global `ARG`s with defaults, `$X` and `${X}`); anything
 * else that cannot be resolved is refused rather than guessed.
 */
export function baseImages(text: string): BaseRef[] {
  const args = new Map<string, string>();
  const stages: string[] = [];
  const refs: BaseRef[] = [];
  const external = (image: string, line: number) => {
    const lower = image.toLowerCase();
    if (lower === 'scratch' || stages.includes(lower) || (/^\d+$/.test(image) && Number(image) < stages.length)) return;
    refs.push({ image, line });
  };
  for (const { words, line } of instructions(text)) {
    let [keyword, ...rest] = words;
    let kw = keyword!.toUpperCase();
    if (kw === 'ONBUILD' && rest.length) {
      [keyword, ...rest] = rest;
      kw = keyword!.toUpperCase();
    }
    if (kw === 'ARG' && !stages.length) {
      for (const pair of rest) {
        const eq = pair.indexOf('=');
        if (eq < 0) args.set(pair, args.get(pair) ?? '');
        else args.set(pair.slice(0, eq), unquote(pair.slice(eq + 1)));
      }
    } else if (kw === 'FROM') {
      const operands = rest.filter((w) => !w.startsWith('--'));
      if (!operands[0]) throw cannot('FROM', line);
      const image = unquote(substitute(operands[0], args, line));
      if (!image) throw cannot('FROM', line);
      external(image, line);
      stages.push(operands[1]?.toUpperCase() === 'AS' && operands[2] ? operands[2].toLowerCase() : `#${stages.length}`);
    } else if (kw === 'COPY' || kw === 'ADD' || kw === 'RUN') {
      for (const flag of rest) {
        if (!flag.startsWith('--')) break;
        const from = kw === 'RUN' ? /^--mount=(?:.*,)?from=([^,]*)/.exec(flag)?.[1] : /^--from=(.*)$/.exec(flag)?.[1];
        if (from === undefined) continue;
        if (!from || from.includes('$')) throw cannot(`${kw} ${flag}`, line);
        external(unquote(from), line);
      }
    }
  }
  return refs;
}

/** `$X`, `${X}` and `${X:-default}` from the global ARGs; undefined or empty values are refused by the caller. */
function substitute(word: string, args: Map<string, string>, line: number): string {
  return word.replace(
    /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))|\$/g,
    (whole, braced?: string, dflt?: string, bare?: string) => {
      const name = braced ?? bare;
      if (!name) throw cannot(`"${word}"`, line);
      const value = args.get(name);
      if (value) return value;
      if (dflt !== undefined) return dflt;
      throw cannot(`"${word}" (${name} has no default)`, line);
    },
  );
}

const unquote = (v: string) => (/^(["']).*\1$/.test(v) ? v.slice(1, -1) : v);

/** Logical lines: directives read, comments dropped, continuations joined; words split on blanks. */
function* instructions(text: string): Generator<{ words: string[]; line: number }> {
  const lines = text.split(/\r?\n/);
  let escape = '\\';
  // Parser directives are comments at the very top (`# escape=``).
  for (const l of lines) {
    const m = /^#\s*([a-z]+)\s*=\s*(\S+)\s*$/i.exec(l);
    if (!m) break;
    if (m[1]!.toLowerCase() === 'escape') escape = m[2]!;
  }
  let buf = '';
  let start = 0;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const trimmed = raw.trim();
    if (!buf && (!trimmed || trimmed.startsWith('#'))) continue;
    if (buf && (trimmed.startsWith('#') || !trimmed)) continue;
    if (!buf) start = i + 1;
    const trailing = raw.replace(/\s+$/, '');
    // As the engine's parser: the escape and the blanks after it go, nothing is put in their place.
    if (trailing.endsWith(escape)) {
      buf += trailing.slice(0, -escape.length);
      continue;
    }
    buf += raw;
    yield { words: buf.trim().split(/\s+/), line: start };
    buf = '';
  }
  if (buf.trim()) yield { words: buf.trim().split(/\s+/), line: start };
}

/** A build context's Dockerfile, as a regular file inside it (a link could point anywhere on the host). */
export async function readDockerfile(dir: string): Promise<string> {
  const file = path.join(dir, 'Dockerfile');
  const st = await fsp.lstat(file);
  if (!st.isFile())
    throw new SlipwayError('dockerfile_not_file', 'the Dockerfile is a link or a directory, not a file', {
      status: 422,
      hint: 'commit the Dockerfile itself at the root of the app',
    });
  if (st.size > MAX_DOCKERFILE_BYTES)
    throw new SlipwayError('dockerfile_too_large', `the Dockerfile has ${st.size} bytes; at most ${MAX_DOCKERFILE_BYTES} are read`, {
      status: 422,
    });
  return fsp.readFile(file, 'utf8');
}

export interface BaseImagePolicy {
  docker: Docker;
  /** This server's `homeId`: an app image of another server is never its apps' own. */
  home: string;
  /** Whether the caller may use this app (its owner, a collaborator, an admin). */
  mayUse(app: string): boolean;
}

/**
 * A build may start from anything tagged on the engine that is not a Slipway
 * app's image (the stack image, public base images), a public image the
 * engine pulls, or an image of an app of this server the caller may use —
 * never another user's app image (its code, and often its secrets, are in its
 * layers). Refused before anything is built, naming the image.
 */
export async function checkBaseImages(text: string, policy: BaseImagePolicy): Promise<void> {
  for (const ref of baseImages(text)) await checkOne(ref, policy);
}

async function checkOne(ref: BaseRef, policy: BaseImagePolicy): Promise<void> {
  const info = await policy.docker
    .getImage(ref.image)
    .inspect()
    .catch((err: { statusCode?: number }) => {
      if (err.statusCode === 404 || err.statusCode === 400) return undefined;
      throw err;
    });
  const refuse = (why: string) =>
    new SlipwayError('base_image_forbidden', `the Dockerfile may not build from ${ref.image} (line ${ref.line}): ${why}`, {
      status: 403,
      hint: 'start from the stack image (slipway/stack:bookworm), a public base image, or an image of one of your own apps',
    });
  if (!info) {
    // Not on the engine: a public image the engine pulls by name. Slipway's app names are never public.
    if (isSlipwayName(ref.image) && normalize(ref.image) !== STACK_IMAGE) throw refuse('it is not an image of an app you may use');
    return;
  }
  const labels = info.Config?.Labels ?? {};
  const app = labels['slipway.app'];
  if (app) {
    if (labels['slipway.home'] === policy.home && policy.mayUse(app)) return;
    throw refuse('it is not an image of an app you may use');
  }
  // The engine also answers an id or id prefix: untagged layers of other apps' builds carry no label. Only names count.
  const named = [...(info.RepoTags ?? []), ...(info.RepoDigests ?? [])].map(normalize);
  if (!named.includes(normalize(ref.image))) throw refuse('name a tagged image, not an image id');
}

/** `node` → `node:latest`, `docker.io/library/node:20` → `node:20`, as the engine lists tags. */
function normalize(ref: string): string {
  let r = ref
    .toLowerCase()
    .replace(/^(docker\.io|index\.docker\.io|registry-1\.docker\.io)\//, '')
    .replace(/^library\//, '');
  const lastSlash = r.lastIndexOf('/');
  if (!r.includes('@') && !r.slice(lastSlash + 1).includes(':')) r += ':latest';
  return r;
}

function isSlipwayName(ref: string): boolean {
  return /^slipway\//.test(normalize(ref));
}
