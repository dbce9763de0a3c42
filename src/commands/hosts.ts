import fsp from 'node:fs/promises';
import type { Command } from 'commander';
import { requireAdmin } from '../auth/access.js';
import { SlipwayError } from '../errors.js';
import type { EngineCredentials } from '../hosts/engines.js';
import { addHost, hostFor, removeHost, setAvailability, setLabels, type HostDeps } from '../hosts/membership.js';
import { initSwarm, requireManager, serverManager } from '../hosts/swarm.js';
import { hostsReport, type HostView } from '../hosts/view.js';
import { SecretBox } from '../secrets/box.js';
import { out, type CommandContext } from './context.js';
import { table } from './format.js';

/**
 * `swarm:init` and `hosts:*`: the machines apps may run on, as members of the
 * Docker Swarm the server's own engine manages. Admin only: a host runs
 * every app's code and holds its engine's credentials.
 */
export function registerHosts(program: Command, ctx: CommandContext): void {
  const deps = (): HostDeps => ({ store: ctx.store, secrets: SecretBox.forHome(ctx.layout.home), manager: serverManager() });
  const admin = (action: string) => requireAdmin(ctx.user, action);

  program
    .command('swarm:init')
    .description("make the server's own Docker engine the manager of a new Swarm (hosts:add does it on first use)")
    .option('--advertise-addr <address>', 'the address other hosts reach this engine at (when it has several)')
    .action(async (opts: { advertiseAddr?: string }) => {
      admin('start a Swarm');
      const d = deps();
      const created = await initSwarm(d.manager, opts);
      const swarm = await requireManager(d.manager);
      out(
        ctx,
        `-----> ${created ? 'Started a Swarm' : 'The Swarm runs already'}: managed by ${d.manager.address}, joined at ${swarm.managerAddr}`,
      );
    });

  program
    .command('hosts:add')
    .description("join a machine's Docker engine to the Swarm and record it as a host")
    .argument('<name>')
    .requiredOption('--engine <address>', 'unix:///PATH, tcp://HOST[:PORT] or ssh://USER@HOST[:PORT]')
    .option('--ca <file>', "TLS: the CA certificate the engine's certificate is signed by")
    .option('--cert <file>', 'TLS: the client certificate')
    .option('--key <file>', 'TLS: the client key; ssh://: the private key (else the SSH agent)')
    .option('--advertise-addr <address>', 'the address the host advertises to the others (when it has several)')
    .addHelpText(
      'after',
      '\nExamples:\n  slipway hosts:add node2 --engine tcp://10.0.0.2:2376 --ca ca.pem --cert cert.pem --key key.pem\n  slipway hosts:add node3 --engine ssh://root@10.0.0.3',
    )
    .action(async (name: string, opts: { engine: string; ca?: string; cert?: string; key?: string; advertiseAddr?: string }) => {
      admin('add hosts');
      const credentials = await readCredentials(ctx, opts);
      const { host, initialized } = await addHost(deps(), { name, engine: opts.engine, credentials, advertiseAddr: opts.advertiseAddr });
      if (initialized) out(ctx, `-----> Started a Swarm managed by the server's engine`);
      out(ctx, `-----> Added host ${host.name} (${host.engine}), Swarm node ${host.nodeId}`);
    });

  program
    .command('hosts')
    .alias('hosts:list')
    .description('the hosts: address, state, availability, engine version, CPUs, memory, free slots, instances')
    .action(async () => {
      admin('list hosts');
      const report = await hostsReport(deps());
      if (report.problem) out(ctx, ` !     ${report.problem.message}; ${report.problem.hint}`);
      if (!report.hosts.length) {
        out(ctx, 'no hosts yet: add one with `slipway hosts:add NAME --engine ADDRESS`');
        return;
      }
      out(
        ctx,
        table(
          ['NAME', 'ADDRESS', 'STATE', 'AVAILABILITY', 'ROLE', 'ENGINE', 'CPUS', 'MEMORY', 'SLOTS', 'INSTANCES', 'LABELS'],
          report.hosts.map((h) => [
            h.name,
            h.address ?? '-',
            h.state,
            h.availability ?? '-',
            h.role ?? '-',
            h.version ?? '-',
            h.cpus ?? '-',
            h.memory ? gb(h.memory) : '-',
            h.slots ?? '-',
            h.instances.length,
            labelText(h.labels) || '-',
          ]),
        ),
      );
    });

  program
    .command('hosts:info')
    .description('one host: its engine, Swarm node, resources, labels and the instances on it')
    .argument('<name>')
    .action(async (name: string) => {
      admin('see hosts');
      const d = deps();
      const report = await hostsReport(d, [hostFor(ctx.store, name)]);
      if (report.problem) out(ctx, ` !     ${report.problem.message}; ${report.problem.hint}`);
      out(ctx, info(report.hosts[0]!));
    });

  program
    .command('hosts:label')
    .description("set (KEY=VALUE) or remove (KEY-) a host's labels; apps are placed by them")
    .argument('<name>')
    .argument('<labels...>')
    .action(async (name: string, labels: string[]) => {
      admin('label hosts');
      const now = await setLabels(deps(), name, labels);
      delete now['slipway.host'];
      out(ctx, `-----> Labels of ${name}: ${labelText(now) || '(none)'}`);
    });

  program
    .command('hosts:drain')
    .description('move every instance off a host and place no new ones there')
    .argument('<name>')
    .action(async (name: string) => {
      admin('drain hosts');
      await setAvailability(deps(), name, 'drain');
      out(ctx, `-----> Draining ${name}: Swarm moves its instances to the other hosts; \`slipway hosts:activate ${name}\` undoes it`);
    });

  program
    .command('hosts:activate')
    .description('let a drained host take instances again')
    .argument('<name>')
    .action(async (name: string) => {
      admin('activate hosts');
      await setAvailability(deps(), name, 'active');
      out(ctx, `-----> ${name} takes instances again`);
    });

  program
    .command('hosts:remove')
    .description('drain a host, make it leave the Swarm and forget it')
    .argument('<name>')
    .option('--force', 'the machine is gone for good: remove its node without asking its engine')
    .action(async (name: string, opts: { force?: boolean }) => {
      admin('remove hosts');
      await removeHost(deps(), name, opts);
      out(ctx, `-----> Removed host ${name}: drained, left the Swarm, forgotten`);
    });
}

async function readCredentials(
  ctx: CommandContext,
  opts: { ca?: string; cert?: string; key?: string },
): Promise<EngineCredentials | undefined> {
  const files = (['ca', 'cert', 'key'] as const).filter((k) => opts[k]);
  if (!files.length) return undefined;
  if (!ctx.local)
    throw new SlipwayError('local_only', '--ca, --cert and --key name files on the server host', {
      status: 400,
      hint: 'run hosts:add on the server host, or POST /api/v1/hosts with the PEM texts',
    });
  const out: EngineCredentials = {};
  for (const k of files) {
    try {
      out[k] = await fsp.readFile(opts[k]!, 'utf8');
    } catch (err) {
      throw new SlipwayError('no_file', `cannot read --${k} ${opts[k]}: ${(err as NodeJS.ErrnoException).code ?? err}`, {
        status: 400,
        hint: 'name a readable PEM file',
      });
    }
  }
  return out;
}

const gb = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(1)} GB`;
const labelText = (labels: Record<string, string>) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

function info(h: HostView): string {
  const lines = [
    `=== ${h.name}`,
    `Engine:       ${h.engine}`,
    `Node:         ${h.nodeId}`,
    `Role:         ${h.role ?? '-'}`,
    `Address:      ${h.address ?? '-'}`,
    `State:        ${h.state}`,
    `Availability: ${h.availability ?? '-'}`,
    `Version:      ${h.version ?? '-'}`,
    `CPUs:         ${h.cpus ?? '-'}`,
    `Memory:       ${h.memory ? gb(h.memory) : '-'}`,
    `Free slots:   ${h.slots ?? '-'}`,
    `Labels:       ${labelText(h.labels) || '(none)'}`,
    `Instances:    ${h.instances.length ? h.instances.map((i) => `${i.name} (${i.state})`).join(', ') : '(none)'}`,
  ];
  return lines.join('\n');
}
