import { expect } from 'chai';
import { buildProgram } from '../../src/commands/program.js';
import { describeCommand } from '../../src/commands/audit-policy.js';
import type { CommandContext, ServerSettings } from '../../src/commands/context.js';
import { Store } from '../../src/store/index.js';
import { Layout } from '../../src/store/layout.js';
import type { Command } from 'commander';

/** Parses argv with the real program, stopping before any action runs, and returns what the audit log would keep. */
function recorded(argv: string[]) {
  const store = Store.open(':memory:');
  const user = store.users.add('admin', 'admin');
  const ctx = {
    store,
    layout: new Layout('/nonexistent'),
    settings: {} as ServerSettings,
    user,
    io: { stdout: process.stdout, stderr: process.stderr },
    local: false,
  } as unknown as CommandContext;
  const program = buildProgram(ctx);
  let entry: ReturnType<typeof describeCommand> | 'none' = 'none';
  program.hook('preAction', (_root: Command, action: Command) => {
    entry = describeCommand(action);
    throw new Error('stop');
  });
  return program
    .parseAsync(argv, { from: 'user' })
    .catch(() => undefined)
    .then(() => {
      store.close();
      return entry;
    });
}

describe('commands/audit-policy', () => {
  it('keeps config keys, never their values', async () => {
    expect(await recorded(['config:set', 'web', 'DATABASE_URL=postgres://u:pw@db/x', 'MODE=fast'])).to.deep.equal({
      action: 'config:set',
      appName: 'web',
      detail: { args: ['DATABASE_URL', 'MODE'] },
    });
  });

  it('keeps scale counts and rollback targets, but no secret option or credential-bearing setting', async () => {
    expect(await recorded(['ps:scale', 'web', 'web=3'])).to.deep.equal({ action: 'ps:scale', appName: 'web', detail: { args: ['web=3'] } });
    expect(await recorded(['rollback', 'web', 'v2'])).to.deep.equal({ action: 'rollback', appName: 'web', detail: { args: ['v2'] } });
    expect((await recorded(['webhooks:add', 'web', 'https://ci.example/hook', '--secret', 's3cr3t'])) as unknown).to.deep.equal({
      action: 'webhooks:add',
      appName: 'web',
      detail: { args: ['https://ci.example/hook'], options: { secret: '[redacted]' } },
    });
    expect(await recorded(['apps:set', 'web', 'artifact_urls=https://u:pw@x/a.tgz', 'releases.keep=3'])).to.deep.equal({
      action: 'apps:set',
      appName: 'web',
      detail: { args: ['artifact_urls', 'releases.keep=3'] },
    });
  });

  it('keeps only the program of a one-off command, and nothing of reads', async () => {
    expect(await recorded(['run', 'web', '--', 'psql', 'postgres://u:pw@db/x'])).to.deep.equal({
      action: 'run',
      appName: 'web',
      detail: { command: 'psql' },
    });
    expect(await recorded(['config', 'web'])).to.equal(undefined);
    expect(await recorded(['releases', 'web'])).to.equal(undefined);
  });

  it('names the app a new app is created as, and the promoted app', async () => {
    expect(await recorded(['apps:create', 'fresh'])).to.deep.include({ action: 'apps:create', appName: 'fresh' });
    expect(await recorded(['promote', 'stg', 'v3', '--to', 'prod'])).to.deep.equal({
      action: 'promote',
      appName: 'stg',
      detail: { args: ['v3'], options: { to: 'prod' } },
    });
  });

  it('records a hook secret rotation (hooks:info --rotate), while hooks:info alone is a read', async () => {
    expect(await recorded(['hooks:info', 'web'])).to.equal(undefined);
    expect(await recorded(['hooks:info', 'web', '--rotate'])).to.deep.equal({
      action: 'hooks:info',
      appName: 'web',
      detail: { options: { rotate: true } },
    });
  });
});
