import type { Command } from 'commander';
import { maskUrl } from '../drains/url.js';
import { SlipwayError } from '../errors.js';
import type { AuditOutcome, NewAuditEntry } from '../store/index.js';

/**
 * What the audit log keeps of a command. Commands that only read are not
 * recorded (they would drown the changes); every other command is, including
 * commands added later, so forgetting to list one errs on the side of a record.
 */
export const READ_ONLY = new Set([
  'apps:list',
  'apps:info',
  'apps:get',
  'config',
  'config:get',
  'releases',
  'releases:info',
  'ps',
  'domains',
  'logs',
  'jobs',
  'jobs:info',
  'jobs:log',
  'jobs:wait',
  'webhooks',
  'webhooks:deliveries',
  'drains',
  'users:list',
  'keys:list',
  'tokens',
  'access',
  'audit',
  'help',
  'certs:report',
  'hosts',
  'hosts:info',
  'vendors',
  'hooks:info',
]);

/** Reads that change something with one option: then they are recorded like any change. */
const CHANGES_WITH: Record<string, string> = { 'hooks:info': 'rotate' };

/** Commands whose `KEY=VALUE` arguments carry secrets: only the keys are kept. */
const VALUES_SECRET = /^(config|secrets|env):/;
/** Setting or option names whose values are never kept, whatever the command. */
const SENSITIVE = /secret|password|passwd|token|credential|private|url/i;
/** Arguments naming the app a command acts on (`apps:create` names a new one). */
const APP_ARGS = new Set(['app', 'from']);
const CREATES_APP = new Set(['apps:create']);

/** The audit entry for one parsed command, before its outcome is known. */
export function describeCommand(cmd: Command): Pick<NewAuditEntry, 'action' | 'appName' | 'detail'> | undefined {
  const action = cmd.name();
  if (READ_ONLY.has(action) && !(CHANGES_WITH[action] && cmd.opts()[CHANGES_WITH[action]!])) return undefined;
  let appName: string | null = null;
  const args: string[] = [];
  cmd.registeredArguments.forEach((a, i) => {
    const value = cmd.processedArgs[i] as string | string[] | undefined;
    if (value === undefined) return;
    if ((APP_ARGS.has(a.name()) || (i === 0 && CREATES_APP.has(action))) && appName === null && typeof value === 'string')
      appName = value.slice(0, 100);
    // A URL argument (a drain's, a webhook's) may carry a token in its userinfo or query.
    else if (a.name() === 'url' && typeof value === 'string') args.push(maskedUrl(value));
    else args.push(...(Array.isArray(value) ? value : [value]));
  });
  const detail: Record<string, unknown> = {};
  // A one-off command line may hold anything (a database URL with its password): keep the program only.
  if (action === 'run') detail.command = args.find((a) => a !== '--')?.slice(0, 100) ?? '';
  else if (args.length) detail.args = args.slice(0, 50).map((a) => redactPair(action, a));
  // Only what the caller gave: a default (`--no-preview` makes `preview: true` one) says nothing about this call.
  const options = Object.entries(cmd.opts()).filter(([k, v]) => v !== undefined && cmd.getOptionValueSource(k) !== 'default');
  if (options.length)
    detail.options = Object.fromEntries(
      options.map(([k, v]) => [k, SENSITIVE.test(k) ? '[redacted]' : typeof v === 'string' ? v.slice(0, 200) : v]),
    );
  return { action, appName, detail };
}

function maskedUrl(raw: string): string {
  try {
    return maskUrl(raw).slice(0, 200);
  } catch {
    return '[redacted]';
  }
}

function redactPair(action: string, arg: string): string {
  const eq = arg.indexOf('=');
  if (eq <= 0) return arg.slice(0, 200);
  const key = arg.slice(0, eq);
  return VALUES_SECRET.test(action) || SENSITIVE.test(key) ? key : arg.slice(0, 200);
}

/** `denied` when the permission check refused; `failed` for any other error. */
export function outcomeOf(err: unknown): AuditOutcome {
  if (err instanceof SlipwayError && (err.code === 'app_not_found' || err.code === 'forbidden' || err.status === 403)) return 'denied';
  return 'failed';
}
