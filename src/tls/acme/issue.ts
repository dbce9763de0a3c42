import https from 'node:https';
import tls from 'node:tls';
import type acme from 'acme-client';
import { acmeLib } from './client-lib.js';
import { AcmeError, problemOf, type AcmeProblem } from './problem.js';
import type { ChallengeBoard } from './challenges.js';

/** External account binding (RFC 8555 §7.3.4): what CAs like ZeroSSL or a company's own CA ask for. */
export interface Eab {
  kid: string;
  hmacKey: string;
}

export interface IssueOptions {
  /** The CA's directory URL. */
  directory: string;
  /** The account's private key (PEM), its contact and binding. */
  account: { key: string; email?: string; eab?: Eab };
  /** DNS names, the first one the subject's. */
  domains: string[];
  /** Where the HTTP-01 answers go while the CA checks them; each is removed afterwards. */
  challenges: ChallengeBoard;
  /** CA certificates (PEM) the directory's TLS may chain to besides the system's: the server's `--extra-ca-bundle`. */
  trust?: string;
  /** One line per step, for the `-----> ` output of certs:auto and the job log. */
  progress?: (line: string) => void;
  /** One HTTP request's limit; default 30 s. */
  timeoutMs?: number;
}

export interface Issued {
  /** PEM, leaf first. */
  chain: string;
  /** The certificate's new private key, PEM. */
  key: string;
  /** The account's URL at the CA. */
  accountUrl: string;
}

type Step = 'directory' | 'account' | 'order' | 'validation' | 'finalize';

/**
 * Runs one RFC 8555 order for `domains` with HTTP-01 and returns the chain
 * and its new key. It knows nothing of apps: the platform's own name is
 * ordered through here as well. The directory's certificate is verified
 * (system roots plus `trust`), never skipped. Any failure is one AcmeError
 * line, carrying the CA's problem document (type, Retry-After) when there was one.
 */
export async function issue(opts: IssueOptions): Promise<Issued> {
  const progress = opts.progress ?? (() => undefined);
  // acme-client retries 429s and 5xx itself, sleeping up to 75 s per request: the renewal
  // back-off decides when to ask again instead, so every attempt that reaches the CA is counted.
  const defaults = acmeLib().axios.defaults as unknown as { acmeSettings: Record<string, number> };
  defaults.acmeSettings = { ...defaults.acmeSettings, retryMaxAttempts: 0 };
  const client = new (acmeLib().Client)({
    directoryUrl: opts.directory,
    accountKey: opts.account.key,
    externalAccountBinding: opts.account.eab,
    // Polls while the CA validates and issues: quick at first, then slower.
    backoffAttempts: 12,
    backoffMin: 250,
    backoffMax: 5000,
  });
  const seen = trackRequests(client, opts.trust, opts.timeoutMs ?? 30_000);
  let step: Step = 'directory';
  let host = '';
  try {
    progress(`Using the ACME directory ${opts.directory}`);
    step = 'account';
    await client.createAccount({
      termsOfServiceAgreed: true,
      ...(opts.account.email ? { contact: [`mailto:${opts.account.email}`] } : {}),
    });
    step = 'order';
    progress(`Ordering a certificate for ${opts.domains.join(', ')}`);
    const order = await client.createOrder({ identifiers: opts.domains.map((value) => ({ type: 'dns', value })) });
    const authorizations = await client.getAuthorizations(order);
    step = 'validation';
    // One at a time: a failure names its host, and no challenge outlives its check.
    for (const authz of authorizations) {
      host = authz.identifier.value;
      if (authz.status === 'valid') {
        progress(`${host}: already validated`);
        continue;
      }
      const challenge = authz.challenges.find((c) => c.type === 'http-01');
      if (!challenge)
        throw new AcmeError(`the CA offers no http-01 challenge for ${host}`, undefined, { hint: 'use a CA that validates over HTTP' });
      const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
      const answer = { host, token: challenge.token, keyAuthorization };
      await opts.challenges.add(answer);
      try {
        progress(`${host}: answering the CA's HTTP-01 challenge`);
        await client.completeChallenge(challenge);
        await client.waitForValidStatus(challenge);
      } finally {
        await opts.challenges.remove(answer).catch(() => undefined);
      }
      progress(`${host}: validated`);
    }
    host = '';
    step = 'finalize';
    const [key, csr] = await acmeLib().crypto.createCsr(
      { commonName: opts.domains[0], altNames: opts.domains },
      await acmeLib().crypto.createPrivateEcdsaKey('P-256'),
    );
    progress('Finalizing the order');
    const finalized = await client.finalizeOrder(order, csr);
    const chain = await client.getCertificate(finalized);
    return { chain, key: key.toString(), accountUrl: client.getAccountUrl() };
  } catch (err) {
    throw failure(err, { step, host, directory: opts.directory, ...seen });
  }
}

/**
 * acme-client sends every request through its HttpClient's `request`:
 * wrapped once, to verify the CA's TLS with our roots, bound each request in
 * time, keep the CA's last problem document, and keep the network error
 * itself (with its retries off, acme-client's interceptor turns one into a
 * TypeError that no longer says what happened).
 */
function trackRequests(client: acme.Client, trust: string | undefined, timeoutMs: number): Seen {
  const seen: Seen = {};
  const agent = new https.Agent({ ca: trust ? [...tls.rootCertificates, trust] : [...tls.rootCertificates], keepAlive: false });
  const create = (agent as any).createConnection.bind(agent);
  (agent as any).createConnection = (...args: unknown[]) => {
    const socket = create(...args);
    socket.on('error', (err: Error) => (seen.network = err));
    return socket;
  };
  const http = (client as unknown as { http: { request: (url: string, method: string, o?: object) => Promise<any> } }).http;
  const request = http.request.bind(http);
  http.request = async (url, method, o = {}) => {
    const started = Date.now();
    let resp;
    try {
      resp = await request(url, method, { ...o, httpsAgent: agent, timeout: timeoutMs, maxRedirects: 0 });
    } catch (err) {
      seen.network ??= Date.now() - started >= timeoutMs ? new Error(`no answer within ${timeoutMs / 1000} s`) : (err as Error);
      throw seen.network;
    }
    seen.problem = problemOf(resp);
    return resp;
  };
  return seen;
}

interface Seen {
  problem?: AcmeProblem;
  network?: Error;
}

function failure(err: unknown, at: Seen & { step: Step; host: string; directory: string }): AcmeError {
  if (err instanceof AcmeError) return err;
  // No answer at all: a network or TLS failure, before the CA could say anything.
  if (at.network && err === at.network) {
    return new AcmeError(`cannot reach the ACME directory ${at.directory}: ${oneLine(at.network.message)}`, undefined, {
      hint: 'check --acme-directory, the network, and (for a private CA) --extra-ca-bundle; Slipway retries with a back-off',
      cause: err,
    });
  }
  const why = oneLine(at.problem?.detail ?? (err as Error).message ?? String(err));
  const what =
    at.step === 'validation'
      ? `the CA could not validate ${at.host}`
      : at.step === 'finalize'
        ? 'the CA refused to issue the certificate'
        : at.step === 'account'
          ? 'the CA refused the account'
          : at.step === 'order'
            ? 'the CA refused the order'
            : `the ACME directory ${at.directory} failed`;
  const hint =
    at.step === 'validation'
      ? `point ${at.host}'s DNS at this server, reachable on port 80 (the router's port), then retry`
      : at.step === 'account'
        ? 'check --acme-email, and --acme-eab-kid/--acme-eab-hmac-key for a CA that asks for external account binding'
        : at.problem?.type?.endsWith(':rateLimited')
          ? 'the CA limits how often it issues: Slipway waits until the time it gave before asking again'
          : undefined;
  return new AcmeError(`${what}: ${why}`, at.problem, { hint, cause: err });
}

const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim().slice(0, 300);
