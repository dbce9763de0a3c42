import type { FastifyInstance, FastifyReply } from 'fastify';
import { APP_NAME } from '../../auth/names.js';
import { SlipwayError } from '../../errors.js';
import { fetchAndDeploy } from '../../pipeline/deploys.js';
import { SecretBox } from '../../secrets/box.js';
import { HOOK_PROVIDERS, type HookEvent } from '../../vendors/hooks.js';
import { settingsOf } from '../../apps/settings.js';
import { isReservedAppName } from '../../auth/hosts.js';
import { deployProviderPreview, removePreview } from '../../pipeline/previews.js';
import type { App } from '../../store/index.js';
import { VENDOR_KINDS, parseSource, type VendorKind } from '../../vendors/kinds.js';
import { HOOK_SECRET } from '../../vendors/tokens.js';
import type { ApiContext } from '../context.js';
import { errors, params } from '../schemas.js';

/** Push payloads are small; a body past this is refused before any of it is kept. */
export const HOOK_BODY_LIMIT = 512 * 1024;
/** Deliveries per client address per minute; past it, 429 until the minute is over. */
const PER_MINUTE = 60;

const HOOK_ANSWER = {
  type: 'object',
  properties: {
    deployed: { type: 'string', description: 'the commit being deployed' },
    job: { type: 'number' },
    ignored: { type: 'string', description: 'why nothing was deployed' },
    preview: { type: 'string', description: 'the preview app a pull request deploys to' },
    removed: { type: 'string', description: 'the preview app a closed pull request removed' },
  },
} as const;

/**
 * Push webhooks from GitHub, GitLab and Bitbucket. Outside the token scope:
 * the signature over the raw body (or GitLab's token) with the app's secret
 * is the only proof, compared in constant time. A push to the branch of the
 * app's `source` deploys through the same intent as `slipway deploy`; other
 * events and branches answer 202 with the reason; a delivery id seen before
 * is not acted on again.
 */
export async function registerHooks(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const seen = new Map<string, { count: number; until: number }>();
  await app.register(async (scope) => {
    // The raw bytes: the HMAC is over exactly what the provider sent, never a re-serialised object.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: HOOK_BODY_LIMIT }, (_req, body, done) => done(null, body));
    scope.post<{ Params: { app: string; vendor: string } }>(
      '/api/v1/hooks/:app/:vendor',
      {
        bodyLimit: HOOK_BODY_LIMIT,
        schema: {
          summary: "a git provider's push webhook (signed with the app's hook secret; see `slipway hooks:info`)",
          tags: ['hooks'],
          security: [],
          params: params({ app: 'app name', vendor: VENDOR_KINDS.join(', ') }),
          response: { 200: HOOK_ANSWER, 202: HOOK_ANSWER, ...errors(400, 401, 404, 409, 413, 429) },
        },
      },
      async (req, reply) => {
        const address = ctx.clientAddress(req.raw);
        limit(seen, address);
        const { vendor } = req.params;
        const app = APP_NAME.test(req.params.app) ? ctx.store.apps.byName(req.params.app) : undefined;
        const sealed = app && ctx.store.hooks.secret(app.id);
        if (!app || !sealed || !(VENDOR_KINDS as string[]).includes(vendor))
          throw new SlipwayError('not_found', `no push webhook at ${req.url.split('?')[0]!.slice(0, 200)}`, {
            status: 404,
            hint: 'the URL and secret are shown by `slipway hooks:info APP`',
          });
        const provider = HOOK_PROVIDERS[vendor as VendorKind];
        const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const box = ctx.platform.services.secrets ?? SecretBox.forHome(ctx.layout.home);
        if (!provider.verify(req.headers, raw, box.open(app.name, HOOK_SECRET, sealed)))
          throw new SlipwayError('hook_signature', `the ${vendor} delivery for ${app.name} is not signed with its hook secret`, {
            status: 401,
            hint: `paste the secret from \`slipway hooks:info ${app.name}\` into the webhook's settings`,
          });
        const delivery = provider.delivery(req.headers);
        if (delivery && !ctx.store.hooks.firstDelivery(app.id, delivery.slice(0, 200)))
          return ignore(reply, `delivery ${delivery.slice(0, 100)} was already received`);
        const event = provider.event(req.headers, parseBody(req.headers['content-type'], raw));
        if (event.kind === 'ignored') return ignore(reply, event.reason);
        const source = settingsOf(app).get('source');
        if (!source)
          throw new SlipwayError('hook_not_set_up', `${app.name} has no source to fetch the push from`, {
            status: 409,
            hint: `set it: slipway apps:set ${app.name} source=${vendor}:OWNER/REPO#BRANCH`,
          });
        if (event.kind === 'pull') {
          const done = await pullRequest(app, event, vendor, address);
          return done.ignored !== undefined ? ignore(reply, done.ignored) : done;
        }
        const { branch } = parseSource(source);
        if (event.branch !== branch) return ignore(reply, `a push to ${event.branch.slice(0, 200)}; ${app.name} deploys ${branch}`);
        if (event.deleted) return ignore(reply, `${branch} was deleted; the live release keeps serving`);
        const underway = alreadyDeploying(app, event.commit);
        if (underway) return ignore(reply, underway);
        const userName = `${vendor}-webhook`;
        const job = fetchAndDeploy(ctx.platform, app, { userName }, event.commit);
        ctx.store.audit.record({
          userName,
          action: 'hook',
          appName: app.name,
          detail: { vendor, branch, commit: event.commit, delivery: delivery?.slice(0, 100) ?? null, job: job.id },
          source: `http ${address}`,
          outcome: 'ok',
        });
        return { deployed: event.commit, job: job.id };
      },
    );
  });

  /**
   * Providers sign the body, not the delivery id: a captured delivery resent
   * with a new id passes the replay check. It must not redeploy a commit that
   * is live or already on its way (a new commit needs a new signed body).
   */
  function alreadyDeploying(app: App, commit: string | undefined): string | undefined {
    if (!commit) return undefined;
    const live = app.currentRelease == null ? undefined : ctx.store.releases.get(app.id, app.currentRelease);
    if (live?.commit === commit) return `${commit.slice(0, 12)} is already live on ${app.name}`;
    const pending = ctx.store.jobs.list(app.id, 20).some((j) => (j.status === 'queued' || j.status === 'running') && j.commit === commit);
    return pending ? `${commit.slice(0, 12)} is already being deployed to ${app.name}` : undefined;
  }

  /** A pull request's preview: made or updated from the provider, or removed when the request is closed. */
  async function pullRequest(
    parent: App,
    event: Extract<HookEvent, { kind: 'pull' }>,
    vendor: string,
    address: string,
  ): Promise<{ ignored?: string; removed?: string; preview?: string; deployed?: string; job?: number }> {
    if (!settingsOf(parent).get('previews')) return { ignored: `a pull request, and ${parent.name} has previews off` };
    const d = { ...ctx.platform, reservedName: (name: string) => isReservedAppName(name, ctx.settings) };
    const userName = `${vendor}-webhook`;
    const audit = (detail: Record<string, unknown>) =>
      ctx.store.audit.record({
        userName,
        action: 'hook',
        appName: parent.name,
        detail: { vendor, branch: event.branch, ...detail },
        source: `http ${address}`,
        outcome: 'ok',
      });
    if (event.closed) {
      const removed = await removePreview(d, parent, event.branch);
      audit({ removed: removed ?? null });
      return removed ? { removed } : { ignored: `${event.branch.slice(0, 200)} has no preview` };
    }
    const { app, job } = await deployProviderPreview(d, parent, event.branch, userName, event.commit);
    audit({ preview: app.name, job: job.id });
    return { preview: app.name, deployed: event.commit ?? event.branch, job: job.id };
  }

  function limit(map: typeof seen, address: string): void {
    const now = Date.now();
    if (map.size > 10_000) for (const [k, v] of map) if (v.until <= now) map.delete(k);
    const entry = map.get(address);
    const e = entry && entry.until > now ? entry : { count: 0, until: now + 60_000 };
    e.count++;
    map.set(address, e);
    if (e.count > PER_MINUTE)
      throw new SlipwayError('hook_rate_limited', `too many webhook deliveries from ${address}`, {
        status: 429,
        hint: `at most ${PER_MINUTE} a minute; try again in ${Math.ceil((e.until - now) / 1000)}s`,
      });
  }
}

const ignore = (reply: FastifyReply, reason: string) => reply.status(202).send({ ignored: reason });

/** JSON, or GitHub's form encoding (`payload=<json>`); garbage is a 400, never a crash. */
function parseBody(contentType: string | undefined, raw: Buffer): unknown {
  try {
    if ((contentType ?? '').startsWith('application/x-www-form-urlencoded'))
      return JSON.parse(new URLSearchParams(raw.toString('utf8')).get('payload') ?? '');
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new SlipwayError('invalid_request', 'the webhook body is not JSON', {
      status: 400,
      hint: 'send the push event as application/json',
    });
  }
}
