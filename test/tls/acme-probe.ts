import crypto from 'node:crypto';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Just enough RFC 8555 to have a real CA validate HTTP-01 challenges in a
 * test: an account, an order, each authorization's http-01 challenge
 * answered, then polled until the CA decided. No finalize, no certificate
 * (issuing is the job of the ACME client Slipway will use, acme-client).
 */
export interface ProbeResult {
  host: string;
  status: string;
  error?: string;
}

const b64u = (data: Buffer | string) => Buffer.from(data).toString('base64url');

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

export async function validateHttp01(opts: {
  directory: string;
  ca: string;
  hosts: string[];
  /** Puts the challenges where the CA will look (the router); called once with all of them. */
  present: (challenges: Array<{ host: string; token: string; keyAuthorization: string }>) => Promise<void>;
}): Promise<ProbeResult[]> {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' }) as { crv: string; kty: string; x: string; y: string };
  const thumbprint = b64u(
    crypto
      .createHash('sha256')
      .update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }))
      .digest(),
  );

  const request = (method: string, url: string, body?: string): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const req = https.request(
        url,
        { method, ca: opts.ca, agent: false, headers: body === undefined ? {} : { 'content-type': 'application/jose+json' } },
        (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: text && /json/.test(String(res.headers['content-type'])) ? JSON.parse(text) : text,
            }),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  const dir = (await request('GET', opts.directory)).body as Record<string, string>;
  let nonce = String((await request('HEAD', dir.newNonce!)).headers['replay-nonce']);
  let kid: string | undefined;
  const post = async (url: string, payload: unknown): Promise<Reply> => {
    const protectedHeader = b64u(JSON.stringify({ alg: 'ES256', nonce, url, ...(kid ? { kid } : { jwk }) }));
    const body = payload === undefined ? '' : b64u(JSON.stringify(payload));
    const signature = b64u(
      crypto.sign('sha256', Buffer.from(`${protectedHeader}.${body}`), { key: privateKey, dsaEncoding: 'ieee-p1363' }),
    );
    const reply = await request('POST', url, JSON.stringify({ protected: protectedHeader, payload: body, signature }));
    nonce = String(reply.headers['replay-nonce']);
    if (reply.status >= 400) throw new Error(`ACME ${url}: ${reply.status} ${JSON.stringify(reply.body)}`);
    return reply;
  };

  kid = String((await post(dir.newAccount!, { termsOfServiceAgreed: true })).headers.location);
  const order = (await post(dir.newOrder!, { identifiers: opts.hosts.map((value) => ({ type: 'dns', value })) })).body as {
    authorizations: string[];
  };
  // One request at a time: each needs the nonce the last one returned.
  const authzs: Array<{ url: string; body: any }> = [];
  for (const url of order.authorizations) authzs.push({ url, body: (await post(url, undefined)).body });
  const challenges = authzs.map((a) => {
    const ch = (a.body.challenges as Array<{ type: string; url: string; token: string }>).find((c) => c.type === 'http-01')!;
    return {
      authz: a.url,
      url: ch.url,
      host: a.body.identifier.value as string,
      token: ch.token,
      keyAuthorization: `${ch.token}.${thumbprint}`,
    };
  });
  await opts.present(challenges.map(({ host, token, keyAuthorization }) => ({ host, token, keyAuthorization })));
  for (const c of challenges) await post(c.url, {});
  const results: ProbeResult[] = [];
  for (const c of challenges) {
    for (;;) {
      const authz = (await post(c.authz, undefined)).body as {
        status: string;
        challenges: Array<{ type: string; error?: { detail?: string } }>;
      };
      if (authz.status !== 'pending') {
        results.push({ host: c.host, status: authz.status, error: authz.challenges.find((x) => x.type === 'http-01')?.error?.detail });
        break;
      }
      await sleep(100);
    }
  }
  return results;
}
