import { Command, Option } from 'commander';
import { connectEngine, requireEngine } from '../docker/engine.js';
import { buildStack } from '../docker/stack.js';
import type { StackNode } from '../docker/stack-node.js';

/** `slipway stack:build`: the docker driver's base image, built locally (no registry needed). Host only. */
export function stackCommand(): Command {
  return new Command('stack:build')
    .description('build the slipway/stack:bookworm image (debootstrap + docker import); skipped when it exists')
    .option('--force', 'rebuild even when the image exists')
    .option('--verbose', 'show every debootstrap line')
    .addOption(new Option('--mirror <url>', 'Debian mirror (default: the one apt uses on this host)').env('SLIPWAY_DEBIAN_MIRROR'))
    .addOption(
      new Option('--node <whose>', "the image's node: the host's (what the process driver runs) or Debian's nodejs")
        .choices(['host', 'debian'])
        .default('host')
        .env('SLIPWAY_STACK_NODE'),
    )
    .action(async (o: { force?: boolean; verbose?: boolean; mirror?: string; node: StackNode }) => {
      const docker = connectEngine();
      await requireEngine(docker);
      const say = (line: string) => process.stdout.write(`${line}\n`);
      await buildStack({ docker, force: o.force, mirror: o.mirror, node: o.node, say, detail: o.verbose ? say : undefined });
    });
}
