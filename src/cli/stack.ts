import { Command, Option } from 'commander';
import { connectEngine, requireEngine } from '../docker/engine.js';
import { buildStack } from '../docker/stack.js';

/** `slipway stack:build`: the docker driver's base image, built locally (no registry needed). Host only. */
export function stackCommand(): Command {
  return new Command('stack:build')
    .description('build the slipway/stack:bookworm image (debootstrap + docker import); skipped when it exists')
    .option('--force', 'rebuild even when the image exists')
    .option('--verbose', 'show every debootstrap line')
    .addOption(new Option('--mirror <url>', 'Debian mirror (default: the one apt uses on this host)').env('SLIPWAY_DEBIAN_MIRROR'))
    .action(async (o: { force?: boolean; verbose?: boolean; mirror?: string }) => {
      const docker = connectEngine();
      await requireEngine(docker);
      const say = (line: string) => process.stdout.write(`${line}\n`);
      await buildStack({ docker, force: o.force, mirror: o.mirror, say, detail: o.verbose ? say : undefined });
    });
}
