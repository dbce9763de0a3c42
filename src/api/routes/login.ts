import type { FastifyInstance } from 'fastify';
import { USER_NAME } from '../../auth/names.js';
import { verifyPassword } from '../../auth/passwords.js';
import type { LoginThrottle } from '../../auth/throttle.js';
import { issueToken } from '../../auth/tokens.js';
import { SlipwayError, invalid } from '../../errors.js';
import type { ApiContext } from '../context.js';
import { errors, str } from '../schemas.js';

const failed = () =>
  new SlipwayError('login_failed', 'wrong user name or password', {
    status: 401,
    hint: 'check both; a user without a password logs in with a token or an SSH key (an admin sets one with `slipway users:passwd NAME`)',
  });

/**
 * `POST /api/v1/login {"user", "password", "token_name"?}` → `201 {token, user}`:
 * a password exchanged for an ordinary API token (named, revocable, shown
 * once), for people who would rather not copy a token around. An unknown
 * user and a wrong password answer alike, in about the same time; repeated
 * failures from one address for one name are slowed down.
 */
export function registerLogin(app: FastifyInstance, ctx: ApiContext, throttle: LoginThrottle): void {
  app.post<{ Body: unknown }>(
    '/api/v1/login',
    {
      schema: {
        summary: 'exchange a user name and password for a new API token (shown once)',
        tags: ['users'],
        security: [],
        body: {
          type: 'object',
          required: ['user', 'password'],
          additionalProperties: false,
          properties: {
            user: str('user name', { maxLength: 200 }),
            password: str('password', { maxLength: 1024 }),
            token_name: str('name of the new token (default login)', { maxLength: 64 }),
          },
        },
        response: {
          201: {
            type: 'object',
            properties: {
              token: str('the token, shown once'),
              token_name: str('its name'),
              user: { type: 'object', properties: { name: str('user name'), role: str('admin or member') } },
            },
          },
          ...errors(400, 401, 413, 415, 422, 429),
        },
      },
    },
    async (req, reply) => {
      const body = req.body;
      if (!body || typeof body !== 'object' || Array.isArray(body))
        throw invalid('the body must be a JSON object', '{"user": "alice", "password": "…", "token_name": "laptop"}');
      const { user: name, password, token_name: tokenName } = body as Record<string, unknown>;
      if (typeof name !== 'string' || typeof password !== 'string' || !name || !password) {
        throw invalid('send "user" and "password" as strings', '{"user": "alice", "password": "…"}');
      }
      if (tokenName !== undefined && typeof tokenName !== 'string') throw invalid('"token_name" must be a string', 'e.g. "laptop"');
      const { token, row, user } = await passwordLogin(ctx, throttle, {
        name,
        password,
        tokenName,
        base: 'login',
        address: ctx.clientAddress(req.raw),
        retryAfter: (seconds) => reply.header('retry-after', String(seconds)),
      });
      return reply.code(201).send({ token, token_name: row.name, user: { name: user.name, role: user.role } });
    },
  );
}

/**
 * A user name and password exchanged for a new API token, throttled and
 * audited: the API's login and the dashboard's both go through here.
 */
export async function passwordLogin(
  ctx: ApiContext,
  throttle: LoginThrottle,
  opts: { name: string; password: string; tokenName?: string; base: string; address: string; retryAfter(seconds: number): void },
) {
  const { name, password, tokenName, address } = opts;
  const source = `http ${address}`;
  const claimed = name.slice(0, 64);
  const audit = (outcome: 'ok' | 'denied', reason?: string, userName: string | null = null) =>
    ctx.store.audit.record({
      userName,
      action: 'login',
      appName: null,
      detail: reason ? { user: claimed, reason } : { user: claimed },
      source,
      outcome,
    });

  const wait = throttle.waitMs(address, claimed);
  if (wait > 0) {
    audit('denied', 'too many failed logins');
    const seconds = Math.ceil(wait / 1000);
    opts.retryAfter(seconds);
    throw new SlipwayError('too_many_attempts', `too many failed logins for "${claimed}" from your address`, {
      status: 429,
      hint: `try again in ${seconds} s`,
    });
  }
  const user = USER_NAME.test(name) ? ctx.store.users.byName(name) : undefined;
  const ok = await verifyPassword(password, user ? ctx.store.users.passwordHash(user.id) : null);
  if (!ok || !user) {
    throttle.failed(address, claimed);
    audit('denied', user ? 'wrong password' : 'unknown user');
    throw failed();
  }
  throttle.succeeded(address, claimed);
  const { token, row } = issueToken(ctx.store, user, { name: tokenName, base: opts.base });
  audit('ok', undefined, user.name);
  return { token, row, user };
}
