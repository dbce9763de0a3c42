import type { CommandIO } from '../git/gateway.js';
import type { DeployQueue } from '../pipeline/queue.js';
import type { OneOffs } from '../pipeline/one-offs.js';
import type { PlatformSettings, Services } from '../pipeline/context.js';
import type { Store, User } from '../store/index.js';
import type { Layout } from '../store/layout.js';
import { SlipwayError } from '../errors.js';

/** Server-wide facts commands print (remotes, URLs); a superset of the pipeline's settings. */
export interface ServerSettings extends PlatformSettings {
  /** Host name users put in git remotes. */
  publicHost: string;
  sshPort: number;
  httpPort: number;
  /** The router's TLS port (`--router-tls-port`); absent when the server does not listen for TLS. */
  routerTlsPort?: number;
  /** `--api-domain`: the router serves the API and git over HTTP at this name too, over TLS with its certificate. */
  apiDomain?: string;
  /** Where the router serves the API and git at `--api-domain` (https with a certificate): the git remotes shown use it. */
  apiUrl?: string;
}

/** What only a running daemon has: the runtime, the router and the deploy queue. */
export interface Platform {
  services: Services;
  queue: DeployQueue;
  /** Detached one-off processes (`POST /api/v1/containers`), apart from every formation. */
  oneOffs: OneOffs;
  /** Stops every instance of an app and removes its route. */
  stopApp(app: string): Promise<void>;
}

export interface CommandContext {
  store: Store;
  layout: Layout;
  settings: ServerSettings;
  user: User;
  io: CommandIO;
  /** From where the caller came, for the audit log: `cli`, `ssh 10.0.0.5`, `http 10.0.0.5`. */
  source?: string;
  /** True for the operator's CLI on the server host: it may name local files. */
  local: boolean;
  /** Absent when a host command runs without the daemon. */
  platform?: Platform;
  /** Set by a command whose own exit code is the answer (`run`); runCommand returns it. */
  exitCode?: number;
}

export function requirePlatform(ctx: CommandContext): Platform {
  if (!ctx.platform) {
    throw new SlipwayError('server_not_running', 'the Slipway server is not running', {
      status: 503,
      hint: 'start it with `slipway server`',
    });
  }
  return ctx.platform;
}

export const out = (ctx: CommandContext, text = '') => ctx.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
