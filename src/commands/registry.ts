import type { Command } from 'commander';
import { requireAdmin } from '../auth/access.js';
import { invalid } from '../errors.js';
import { REGISTRY_PORT, runningRegistry, startRegistry, stopRegistry } from '../hosts/registry.js';
import { managerState, serverManager } from '../hosts/swarm.js';
import { out, type CommandContext } from './context.js';

/**
 * `registry:start`, `registry:stop`, `registry`: the image registry the swarm
 * driver pushes release images to, run on the server's machine for the admin
 * who has none (Debian's `docker-registry`; see hosts/registry.ts).
 */
export function registerRegistry(program: Command, ctx: CommandContext): void {
  const admin = (action: string) => requireAdmin(ctx.user, action);

  program
    .command('registry:start')
    .description("run Debian's docker-registry on the server's machine for the swarm driver's release images")
    .option('--listen <host:port>', `the address the hosts reach it at (default: the Swarm manager's address, port ${REGISTRY_PORT})`)
    .action(async (opts: { listen?: string }) => {
      admin('start the registry');
      const listen = opts.listen ?? (await managerListen());
      const { state, started } = await startRegistry(ctx.layout.home, listen);
      out(
        ctx,
        `-----> ${started ? 'Started' : 'Already running:'} the registry at ${state.address} (pid ${state.pid}, images in ${state.storage})`,
      );
      out(ctx, `       swarm apps push their release images there unless the server was started with --registry`);
      out(ctx, `       every host's engine must list ${state.address} under insecure-registries (daemon.json): it speaks plain HTTP`);
    });

  program
    .command('registry:stop')
    .description('stop the registry registry:start runs (its images are kept)')
    .action(async () => {
      admin('stop the registry');
      out(ctx, (await stopRegistry(ctx.layout.home)) ? '-----> Stopped the registry (its images are kept)' : 'no registry runs here');
    });

  program
    .command('registry')
    .description('whether the registry registry:start runs is running, and where')
    .action(() => {
      admin('see the registry');
      const state = runningRegistry(ctx.layout.home);
      out(
        ctx,
        state
          ? `running at ${state.address} (pid ${state.pid}, images in ${state.storage})`
          : 'no registry runs here: `slipway registry:start`',
      );
    });
}

/** The Swarm manager's own address: what the hosts reach the server's machine at. */
async function managerListen(): Promise<string> {
  const state = await managerState(serverManager());
  if (!state.ok)
    throw invalid(
      "no address to listen on: the server's engine manages no Swarm, whose address would be the default",
      `name the address the hosts reach this machine at: slipway registry:start --listen ADDRESS:${REGISTRY_PORT}`,
    );
  return `${state.info.Swarm.NodeAddr}:${REGISTRY_PORT}`;
}
