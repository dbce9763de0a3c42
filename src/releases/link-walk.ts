import path from 'node:path';

/** An archive entry as far as link resolution cares. */
export interface LinkEntry {
  /** Normalized: no leading `./`, no trailing `/`. */
  path: string;
  type: string;
  linkpath?: string;
}

export const normalizeEntryPath = (p: string) => p.replace(/^(\.\/)+/, '').replace(/\/+$/, '');

/**
 * A link whose own text stays inside the tree may still leave it through
 * another link (`a -> b/..`, then `c -> a/..`). This follows the
 * archive's symlinks as the kernel would, inside a virtual root, for every
 * link target and every path.
 */
export function escapingEntry(entries: LinkEntry[]): string | undefined {
  const links = new Map(entries.filter((e) => e.type === 'SymbolicLink').map((e) => [e.path, e.linkpath ?? '']));
  if (!links.size) return undefined;
  for (const e of entries) {
    const parent = e.path.split('/').slice(0, -1).join('/');
    if (walk(links, [], parent) === null) return e.path;
    if (e.type === 'SymbolicLink' && walk(links, parent ? parent.split('/') : [], e.linkpath ?? '') === null) return e.path;
    if (e.type === 'Link' && walk(links, [], e.linkpath ?? '') === null) return e.path;
  }
  return undefined;
}

/** Resolves `rel` from `start` (path components under the root); null when it leaves the root or loops. */
function walk(links: Map<string, string>, start: string[], rel: string, depth = 0): string[] | null {
  if (depth > 40 || path.posix.isAbsolute(rel)) return null;
  const cur = [...start];
  for (const part of rel.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (!cur.length) return null;
      cur.pop();
      continue;
    }
    cur.push(part);
    const target = links.get(cur.join('/'));
    if (target === undefined) continue;
    const resolved = walk(links, cur.slice(0, -1), target, depth + 1);
    if (resolved === null) return null;
    cur.splice(0, cur.length, ...resolved);
  }
  return cur;
}
