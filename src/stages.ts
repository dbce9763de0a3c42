/**
 * The corpus RFC's "Full procedure", in order: the names jobs record their
 * stages under and a DeployError names. Which of them a mode runs is
 * pipeline/modes.ts's table; they live at the bottom because jobs record them and errors name them.
 */
export const STAGES = [
  'trigger',
  'archive',
  'init-sync',
  'release-sync',
  'configure',
  'build',
  'reconfigure',
  'activate',
  'upgrade',
  'bundle',
  'post-install',
  'rollback',
  'notify',
] as const;

export type Stage = (typeof STAGES)[number];
