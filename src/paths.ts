import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The checkout or installed package root: src/ and dist/ sit one level below it. */
export const PACKAGE_ROOT = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
export const BUILTIN_BUILDPACKS = path.join(PACKAGE_ROOT, 'buildpacks');
export const HOOKS_DIR = path.join(PACKAGE_ROOT, 'hooks');
