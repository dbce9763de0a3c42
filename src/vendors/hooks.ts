import crypto from 'node:crypto';
import type { VendorKind } from './kinds.js';

/** Request headers as Node gives them (lower-case names). */
export type Headers = Record<string, string | string[] | undefined>;

/** What a delivery asks for: a branch moved (or was deleted), or nothing Slipway acts on. */
export type HookEvent =
  | { kind: 'push'; branch: string; commit: string; deleted: boolean }
  /** A pull (merge) request opened, updated or closed: the preview of its branch, when the app has previews. */
  | { kind: 'pull'; branch: string; commit?: string; closed: boolean }
  | { kind: 'ignored'; reason: string };

interface HookProvider {
  /** True when the delivery proves it knows the app's secret; compared in constant time. */
  verify(headers: Headers, raw: Buffer, secret: string): boolean;
  /** The provider's id of this delivery: a replay carries the same one. */
  delivery(headers: Headers): string | undefined;
  /** The event, from the headers and the parsed JSON body. */
  event(headers: Headers, body: any): HookEvent;
}

const header = (h: Headers, name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

/** Compares two strings in time that depends only on their lengths' digests, never on where they differ. */
export function sameSecret(given: string, expected: string): boolean {
  const a = crypto.createHash('sha256').update(given).digest();
  const b = crypto.createHash('sha256').update(expected).digest();
  return crypto.timingSafeEqual(a, b) && given.length === expected.length;
}

/** `sha256=HEX` of the raw body under `secret`, as GitHub and Bitbucket sign. */
const hubSignature = (name: string) => (h: Headers, raw: Buffer, secret: string) => {
  const given = header(h, name) ?? '';
  const want = `sha256=${crypto.createHmac('sha256', secret).update(raw).digest('hex')}`;
  return sameSecret(given, want);
};

const ZERO = /^0+$/;
const BRANCH_REF = /^refs\/heads\/(.+)$/;

function pushOf(ref: unknown, after: unknown): HookEvent {
  const branch = typeof ref === 'string' ? BRANCH_REF.exec(ref)?.[1] : undefined;
  if (!branch) return { kind: 'ignored', reason: `${String(ref).slice(0, 100)} is not a branch` };
  if (typeof after !== 'string' || !/^[0-9a-f]{40}$/.test(after)) return { kind: 'ignored', reason: 'the push names no commit' };
  return { kind: 'push', branch, commit: after, deleted: ZERO.test(after) };
}

/** A pull request's event, when it is one Slipway acts on: from the same repository (a fork's branch is not there to fetch). */
function pullOf(o: { action: string; opens: string[]; closes: string[]; branch: unknown; commit: unknown; sameRepo: boolean }): HookEvent {
  const closed = o.closes.includes(o.action);
  if (!closed && !o.opens.includes(o.action))
    return { kind: 'ignored', reason: `a pull request ${String(o.action).slice(0, 50)}; previews follow ${o.opens[0]} and ${o.closes[0]}` };
  if (typeof o.branch !== 'string' || !o.branch || o.branch.length > 200)
    return { kind: 'ignored', reason: 'the pull request names no branch' };
  if (!o.sameRepo) return { kind: 'ignored', reason: 'a pull request from a fork; only branches of the source repository get previews' };
  const commit = typeof o.commit === 'string' && /^[0-9a-f]{40}$/.test(o.commit) ? o.commit : undefined;
  return { kind: 'pull', branch: o.branch, commit, closed };
}

/**
 * The three providers' push webhooks, as each documents them: GitHub signs
 * the body (`X-Hub-Signature-256`), GitLab sends the secret itself
 * (`X-Gitlab-Token`), Bitbucket Cloud signs like GitHub (`X-Hub-Signature`).
 */
export const HOOK_PROVIDERS: Record<VendorKind, HookProvider> = {
  github: {
    verify: hubSignature('x-hub-signature-256'),
    delivery: (h) => header(h, 'x-github-delivery'),
    event: (h, body) => {
      const kind = header(h, 'x-github-event');
      const pr = body?.pull_request;
      if (kind === 'pull_request')
        return pullOf({
          action: body?.action,
          opens: ['opened', 'reopened', 'synchronize'],
          closes: ['closed'],
          branch: pr?.head?.ref,
          commit: pr?.head?.sha,
          sameRepo: !!pr?.head?.repo && pr.head.repo.full_name === pr?.base?.repo?.full_name,
        });
      if (kind !== 'push') return { kind: 'ignored', reason: `${kind ?? 'an unnamed'} event; only push deploys` };
      return pushOf(body?.ref, body?.after);
    },
  },
  gitlab: {
    verify: (h, _raw, secret) => sameSecret(header(h, 'x-gitlab-token') ?? '', secret),
    delivery: (h) => header(h, 'idempotency-key') ?? header(h, 'x-gitlab-event-uuid'),
    event: (h, body) => {
      const kind = header(h, 'x-gitlab-event');
      const mr = body?.object_attributes;
      if (kind === 'Merge Request Hook' && body?.object_kind === 'merge_request')
        return pullOf({
          action: mr?.action,
          opens: ['open', 'reopen', 'update'],
          closes: ['close', 'merge'],
          branch: mr?.source_branch,
          commit: mr?.last_commit?.id,
          sameRepo: mr?.source_project_id === mr?.target_project_id,
        });
      if (kind !== 'Push Hook' || body?.object_kind !== 'push')
        return { kind: 'ignored', reason: `${kind ?? 'an unnamed'} event; only Push Hook deploys` };
      return pushOf(body?.ref, body?.after);
    },
  },
  bitbucket: {
    verify: hubSignature('x-hub-signature'),
    delivery: (h) => header(h, 'x-request-uuid'),
    event: (h, body) => {
      const kind = header(h, 'x-event-key');
      const pr = body?.pullrequest;
      if (kind?.startsWith('pullrequest:'))
        return pullOf({
          action: kind.slice('pullrequest:'.length),
          opens: ['created', 'updated'],
          closes: ['fulfilled', 'rejected'],
          branch: pr?.source?.branch?.name,
          commit: pr?.source?.commit?.hash,
          sameRepo: !!pr?.source?.repository && pr.source.repository.full_name === pr?.destination?.repository?.full_name,
        });
      if (kind !== 'repo:push') return { kind: 'ignored', reason: `${kind ?? 'an unnamed'} event; only repo:push deploys` };
      const change = body?.push?.changes?.[0];
      const ref = change?.new ?? change?.old;
      if (!ref || ref.type !== 'branch' || typeof ref.name !== 'string') return { kind: 'ignored', reason: 'the push moved no branch' };
      if (!change.new) return { kind: 'push', branch: ref.name, commit: '0'.repeat(40), deleted: true };
      return pushOf(`refs/heads/${ref.name}`, ref.target?.hash);
    },
  },
};
