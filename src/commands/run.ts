import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { appFor } from '../auth/access.js';
import { SlipwayError, invalid } from '../errors.js';
import type { CommandIO } from '../git/gateway.js';
import { liveRuntime, releaseRuntime } from '../pipeline/release-runtime.js';
import { guestOf } from '../pipeline/guests.js';
import type { ExecRequest } from '../runtime/driver.js';
import { requirePlatform, type CommandContext } from './context.js';

export function registerRun(program: Command, ctx: CommandContext): void {
  program
    .command('run')
    .description("run a one-off command in the app's live release, with its environment; exits with the command's status")
    .argument('<app>')
    .argument('[command...]', 'program and arguments, after `--`; run as given, never through a shell')
    // Everything after the app is the command's, its options included.
    .passThroughOptions()
    .allowUnknownOption()
    .addHelpText(
      'after',
      "\nExamples:\n  ssh slipway@HOST run myapp -- node migrate.js --dry-run\n  ssh slipway@HOST run myapp -- sh -c 'echo $DATABASE_URL'\n  ssh -t slipway@HOST run myapp -- top",
    )
    .action(async (name: string, command: string[]) => {
      const argv = command[0] === '--' ? command.slice(1) : command;
      if (!argv.length) throw invalid('no command given', `write it after the app: \`run ${name} -- ls -la\``);
      const target = await resolveTarget(ctx, name);
      ctx.exitCode = await exec(ctx, target, argv);
    });

  program
    .command('enter')
    .description("open a shell (bash) in the app's live release; use `ssh -t` for a terminal")
    .argument('<app>')
    .argument('[instance]', 'a running instance to join, e.g. worker.1; default web.1 (or the only one running)')
    .action(async (name: string, instance?: string) => {
      // As `heroku ps:exec` and `dokku enter`: join a running instance, so its processes and /app writes are there.
      const target = await resolveTarget(ctx, name, instance ?? defaultInstance(ctx, name));
      if (!ctx.io.tty) {
        ctx.io.stderr.write(
          ' !     no terminal: reading commands from stdin. For an interactive shell, use `ssh -t slipway@HOST enter …`\n',
        );
      }
      // Without a terminal an interactive bash would only complain about job control.
      ctx.exitCode = await exec(ctx, target, ctx.io.tty ? ['bash', '-i'] : ['bash']);
    });
}

type Target = Pick<ExecRequest, 'app' | 'release' | 'releaseDir' | 'dataDir' | 'env' | 'instanceId' | 'image' | 'user' | 'limits'>;

/** Where a one-off process runs: the app's live release, or the release of one running instance. */
async function resolveTarget(ctx: CommandContext, name: string, instance?: string): Promise<Target> {
  const app = appFor(ctx.store, ctx.user, name);
  // The one-off runs for as long as the session has access to the app: losing it aborts the exec.
  ctx.io.session?.useApp(app.name);
  const { services } = requirePlatform(ctx);
  const found = instance ? findInstance(ctx, app.name, app.currentRelease, instance) : undefined;
  const version = found?.release ?? app.currentRelease;
  // releaseRuntime answers "no live release" with the push hint, and re-unpacks a missing directory.
  const rt = version == null ? await liveRuntime(services, app) : await releaseRuntime(services, app, version);
  return {
    app: app.name,
    release: rt.release.version,
    releaseDir: rt.dir,
    dataDir: ctx.layout.data(app.name),
    env: rt.env,
    instanceId: found?.id,
    image: rt.image,
    ...guestOf(services, app, 'run'),
  };
}

/** Runs argv there with the caller's streams and terminal; resolves with its exit code. */
async function exec(ctx: CommandContext, target: Target, argv: string[]): Promise<number> {
  const { services } = requirePlatform(ctx);
  const id = `${target.app}.run.${randomUUID()}`;
  // What it leaves running ends with it (and with a crashed daemon's next start), as a one-off dyno's does.
  try {
    return await services.driver.exec({
      ...target,
      owner: services.orphans?.owner('one-off', id),
      argv,
      stdin: ctx.io.stdin,
      stdout: ctx.io.stdout,
      stderr: ctx.io.stderr,
      ...terminal(ctx.io),
      signal: ctx.io.signal,
    });
  } finally {
    services.orphans?.reapOwner('one-off', id);
  }
}

/**
 * `web.1` (or a full id, `myapp.v3.web.1`) among the app's running
 * instances. During a deploy two releases may both run a `web.1`; the live
 * release's wins, else the newest.
 */
function findInstance(ctx: CommandContext, app: string, live: number | null, name: string): { id: string; release: number } {
  const running = requirePlatform(ctx).services.driver.instances(app);
  const matches = running.filter((i) => `${i.type}.${i.index}` === name || i.id === name).sort((a, b) => b.release - a.release);
  const found = matches.find((i) => i.release === live) ?? matches[0];
  if (found) return found;
  const names = [...new Set(running.map((i) => `${i.type}.${i.index}`))].sort();
  throw new SlipwayError('instance_not_found', `${app} has no running instance "${name}"`, {
    status: 404,
    hint: names.length ? `running: ${names.join(', ')}` : `${app} runs no instances; \`enter ${app}\` opens a shell in its live release`,
  });
}

/** `web.1` of the live release if it runs, else the only running instance; undefined: a fresh one-off. */
function defaultInstance(ctx: CommandContext, name: string): string | undefined {
  const app = appFor(ctx.store, ctx.user, name);
  const running = requirePlatform(ctx)
    .services.driver.instances(app.name)
    .filter((i) => i.state === 'up' && i.release === app.currentRelease);
  const web1 = running.find((i) => i.type === 'web' && i.index === 1);
  return web1?.id ?? (running.length === 1 ? running[0]!.id : undefined);
}

/** The client's terminal, if it asked for one: its size now, and later changes. */
function terminal(io: CommandIO): Pick<ExecRequest, 'tty' | 'onResize'> {
  if (!io.tty) return {};
  let size = { cols: 80, rows: 24 };
  // The SSH entrance tells a new listener the current size at once.
  io.onResize?.((cols, rows) => (size = { cols, rows }));
  return { tty: size, onResize: io.onResize ? (listener) => io.onResize!(listener) : undefined };
}
