import type { Command } from 'commander';
import { auditFor, parseLimit } from '../auth/audit.js';
import { out, type CommandContext } from './context.js';
import { table } from './format.js';

export function registerAudit(program: Command, ctx: CommandContext): void {
  program
    .command('audit')
    .description('who did what, when and from where: pushes, config changes, scaling, rollbacks, access changes, failed logins')
    .argument('[app]', 'only this app')
    .option('-n, --num <entries>', 'how many of the newest entries', '50')
    .action((app: string | undefined, o: { num: string }) => {
      const entries = auditFor(ctx, { app, limit: parseLimit(o.num) });
      if (!entries.length) return void out(ctx, 'No audit entries yet.');
      const rows = entries.map((e) => [
        new Date(e.at).toISOString().replace(/\.\d+Z$/, 'Z'),
        e.userName ?? '-',
        e.action,
        e.appName ?? '',
        e.source,
        e.outcome,
        Object.keys(e.detail).length ? JSON.stringify(e.detail) : '',
      ]);
      out(ctx, table(['WHEN', 'USER', 'ACTION', 'APP', 'FROM', 'OUTCOME', 'DETAIL'], rows));
    });
}
