import type { FastifyInstance } from 'fastify';
import { SlipwayError } from '../../errors.js';
import { SecretBox } from '../../secrets/box.js';
import { addVendorAccount, vendorView } from '../../vendors/accounts.js';
import { VENDOR_KINDS, checkVendor, checkVendorHost } from '../../vendors/kinds.js';
import { requestUser } from '../auth.js';
import type { ApiContext } from '../context.js';
import { errors, list, params } from '../schemas.js';

const TAGS = ['vendors'];
const VENDOR_VIEW = {
  type: 'object',
  properties: { vendor: { type: 'string' }, host: { type: 'string' }, username: { type: 'string' }, createdAt: { type: 'number' } },
} as const;

/** The caller's own git provider accounts (`vendors:add`); tokens go in, never out. */
export function registerVendors(api: FastifyInstance, ctx: ApiContext): void {
  const box = () => ctx.platform.services.secrets ?? SecretBox.forHome(ctx.layout.home);
  api.get(
    '/api/v1/vendors',
    {
      schema: {
        summary: 'your git provider accounts (never their tokens)',
        tags: TAGS,
        response: { 200: list(VENDOR_VIEW), ...errors(401) },
      },
    },
    async (req) => ctx.store.vendors.list(requestUser(req).id).map(vendorView),
  );
  api.post<{ Body: { vendor: string; token: string; host?: string; username?: string } }>(
    '/api/v1/vendors',
    {
      schema: {
        summary: 'add or replace your account at a git provider; the token is sealed and never shown again',
        tags: TAGS,
        body: {
          type: 'object',
          required: ['vendor', 'token'],
          additionalProperties: false,
          properties: {
            vendor: { type: 'string', enum: VENDOR_KINDS },
            token: { type: 'string', maxLength: 4096 },
            host: { type: 'string', maxLength: 200, description: 'a self-hosted server: host name or http(s) base URL' },
            username: { type: 'string', maxLength: 100 },
          },
        },
        response: { 201: VENDOR_VIEW, ...errors(400, 401, 422) },
      },
    },
    async (req, reply) => reply.status(201).send(vendorView(addVendorAccount(ctx.store, box(), requestUser(req).id, req.body))),
  );
  api.delete<{ Params: { vendor: string }; Querystring: { host?: string } }>(
    '/api/v1/vendors/:vendor',
    {
      schema: {
        summary: 'remove your account(s) at a git provider',
        tags: TAGS,
        params: params({ vendor: VENDOR_KINDS.join(', ') }),
        querystring: { type: 'object', additionalProperties: false, properties: { host: { type: 'string', maxLength: 200 } } },
        response: { 200: { type: 'object', properties: { removed: { type: 'number' } } }, ...errors(401, 404, 422) },
      },
    },
    async (req) => {
      const vendor = checkVendor(req.params.vendor);
      const removed = ctx.store.vendors.remove(requestUser(req).id, vendor, req.query.host ? checkVendorHost(req.query.host) : undefined);
      if (!removed) throw new SlipwayError('not_found', `you have no ${vendor} account`, { status: 404 });
      return { removed };
    },
  );
}
