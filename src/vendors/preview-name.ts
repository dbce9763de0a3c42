import crypto from 'node:crypto';

const MAX = 63;

/**
 * The name of `parent`'s preview for `branch`: `PARENT-pr-BRANCH`, the branch
 * lower-cased with every run of other characters made one `-`. When that
 * loses anything (case, `/`, dots, length) a short hash of the exact branch
 * name is added, so two branches never share a preview name.
 */
export function previewName(parent: string, branch: string): string {
  const slug = branch
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  const plain = `${parent}-pr-${slug}`;
  if (slug === branch && slug && plain.length <= MAX) return plain;
  const hash = crypto.createHash('sha256').update(branch).digest('hex').slice(0, 8);
  const room = MAX - hash.length - 1;
  const head = `${parent}-pr-${slug}`.slice(0, room).replace(/-+$/, '');
  return `${head}-${hash}`;
}
