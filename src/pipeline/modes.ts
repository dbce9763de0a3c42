import { STAGES, type Mode, type Stage } from '../store/index.js';
import type { Plan, Workspace } from './context.js';
import { BUILD_DIR, WORK_TREE } from './workspaces.js';

/**
 * The corpus RFC's "Full procedure", in order (store/jobs.ts holds the names,
 * since jobs record them). Every deploy — a push, an upload, a promotion, a
 * rollback — walks this list; its mode decides which stages run. `rollback`
 * runs only when a stage failed, `notify` always.
 */
export { STAGES, type Stage };

export const STAGE_TITLES: Record<Stage, string> = {
  trigger: 'Trigger',
  archive: 'Archive',
  'init-sync': 'Init/sync',
  'release-sync': 'Release-sync',
  configure: 'Configure',
  build: 'Build',
  reconfigure: 'Reconfigure',
  activate: 'Activate',
  upgrade: 'Upgrade',
  bundle: 'Bundle',
  'post-install': 'Post-install',
  rollback: 'Rollback',
  notify: 'Notify',
};

export type { Plan };

/**
 * DESIGN.md's mode × stage table, as data. Editable iterates in place (no
 * archive, no bundle, no rollback); cooking builds and bundles the archives
 * production deploys; final never builds, it syncs a release archive instead.
 */
export const MODES: Record<Mode, Plan> = {
  //          trigger  archive  init-sync  release-sync  configure  build   reconfigure  activate  upgrade  bundle  post-install  rollback  notify
  editable: row('run', 'skip', 'run', 'skip', 'run', 'run', 'skip', 'run', 'run', 'skip', 'run', 'skip', 'run'),
  cooking: row('run', 'run', 'run', 'skip', 'run', 'run', 'run', 'run', 'run', 'run', 'run', 'run', 'run'),
  final: row('run', 'run', 'run', 'run', 'run', 'skip', 'run', 'run', 'run', 'run', 'run', 'run', 'run'),
};

function row(...cells: Array<'run' | 'skip'>): Plan {
  return Object.fromEntries(STAGES.map((s, i) => [s, cells[i]!])) as Plan;
}

/**
 * Where each mode assembles its code and runs it from (see workspaces.ts):
 * editable works in the app's work tree in place; the others build in a fresh
 * dir that becomes releases/vN.
 */
export const WORKSPACES: Record<Mode, Workspace> = { editable: WORK_TREE, cooking: BUILD_DIR, final: BUILD_DIR };

/** The stages a mode runs on the way forward (rollback and notify are the error/always paths). */
export function forwardStages(mode: Mode): Stage[] {
  return STAGES.filter((s) => s !== 'rollback' && s !== 'notify' && MODES[mode][s] === 'run');
}
