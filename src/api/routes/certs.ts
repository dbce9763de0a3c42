import type { FastifyInstance } from 'fastify';
import { appFor } from '../../auth/access.js';
import { SlipwayError } from '../../errors.js';
import { SecretBox } from '../../secrets/box.js';
import type { App } from '../../store/index.js';
import { addOwnCertificate, certStatus, noCertificate, removeCertificate, type CertDeps } from '../../tls/certificates.js';
import { requestUser } from '../auth.js';
import type { ApiContext } from '../context.js';
import { APP_PARAM, errors, params, str } from '../schemas.js';

const TAGS = ['certs'];
const appParams = params({ app: APP_PARAM });
const time = (d: string) => ({ type: ['string', 'null'], description: `${d} (ISO 8601)` });

const CERT_VIEW = {
  type: 'object',
  properties: {
    app: str('app name'),
    source: str('own (certs:add) or acme'),
    names: { type: 'array', items: { type: 'string' }, description: 'the DNS names in the certificate' },
    served: { type: 'array', items: { type: 'string' }, description: "the app's hosts served over HTTPS with it" },
    uncovered: { type: 'array', items: { type: 'string' }, description: "the app's custom domains it does not cover" },
    issuer: { type: ['string', 'null'] },
    fingerprint: { type: ['string', 'null'], description: 'SHA-256 of the leaf' },
    not_before: time('valid from'),
    not_after: time('valid until'),
    last_attempt_at: time('last renewal attempt (acme)'),
    last_error: { type: ['string', 'null'] },
    next_attempt_at: time('next renewal attempt after a failure (acme)'),
    failures: { type: 'integer', description: 'failed ACME attempts in a row' },
    warnings: { type: 'array', items: { type: 'string' } },
  },
};

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** An app's own certificate over the API: the same checks and answers as `certs:add`, `certs:remove`, `certs:report`. */
export function registerCerts(api: FastifyInstance, ctx: ApiContext): void {
  const deps = (): CertDeps => ({
    store: ctx.store,
    secrets: ctx.platform.services.secrets ?? SecretBox.forHome(ctx.layout.home),
    router: ctx.platform.services.router,
    extraCaBundle: ctx.settings.extraCaBundle,
    domain: ctx.settings.domain,
  });
  const view = (app: App) => {
    const cert = ctx.store.certs.forApp(app.id);
    if (!cert) throw noCertificate(app);
    const s = certStatus(deps(), app, cert);
    return {
      app: app.name,
      source: cert.source,
      names: cert.domains,
      served: s.served,
      uncovered: s.uncovered,
      issuer: cert.issuer,
      fingerprint: cert.fingerprint,
      not_before: iso(cert.notBefore),
      not_after: iso(cert.notAfter),
      last_attempt_at: iso(cert.lastAttemptAt),
      last_error: cert.lastError,
      next_attempt_at: iso(cert.nextAttemptAt),
      failures: cert.failures,
      warnings: s.warnings,
    };
  };

  api.get<{ Params: { app: string } }>(
    '/api/v1/apps/:app/certs',
    {
      schema: {
        summary: "an app's certificate: names, hosts served over HTTPS, issuer, expiry",
        tags: TAGS,
        params: appParams,
        response: { 200: CERT_VIEW, ...errors(401, 404, 422) },
      },
    },
    async (req) => view(appFor(ctx.store, requestUser(req), req.params.app)),
  );

  api.put<{ Params: { app: string }; Body: { chain: string; key: string } }>(
    '/api/v1/apps/:app/certs',
    {
      schema: {
        summary: "set an app's own certificate (checked: key, chain, names, dates)",
        tags: TAGS,
        params: appParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['chain', 'key'],
          properties: {
            chain: str('PEM: the leaf certificate, then its intermediates', { maxLength: 256 * 1024 }),
            key: str('PEM: its private key, unencrypted', { maxLength: 64 * 1024 }),
          },
        },
        response: { 200: CERT_VIEW, ...errors(400, 401, 404, 422) },
      },
    },
    async (req) => {
      const app = appFor(ctx.store, requestUser(req), req.params.app);
      await addOwnCertificate(deps(), app, `${req.body.chain}\n${req.body.key}`);
      return view(app);
    },
  );

  api.post<{ Params: { app: string } }>(
    '/api/v1/apps/:app/certs/auto',
    {
      schema: {
        summary: "get a certificate for all of an app's custom domains from the ACME CA and keep it renewed (certs:auto)",
        tags: TAGS,
        params: appParams,
        response: { 200: CERT_VIEW, ...errors(401, 404, 409, 422, 429, 502, 503) },
      },
    },
    async (req) => {
      const app = appFor(ctx.store, requestUser(req), req.params.app);
      const acme = ctx.platform.services.acme;
      if (!acme) throw new SlipwayError('router_failed', "this server's router cannot answer ACME challenges", { status: 503 });
      await acme.obtain(app, { user: requestUser(req).name, trigger: 'certs:auto' });
      return view(app);
    },
  );

  api.delete<{ Params: { app: string } }>(
    '/api/v1/apps/:app/certs',
    {
      schema: {
        summary: "remove an app's certificate: its domains are served over plain HTTP only",
        tags: TAGS,
        params: appParams,
        response: { 204: { type: 'null' }, ...errors(401, 404, 422) },
      },
    },
    async (req, reply) => {
      const app = appFor(ctx.store, requestUser(req), req.params.app);
      if (!(await removeCertificate(deps(), app))) throw noCertificate(app);
      return reply.status(204).send();
    },
  );
}
