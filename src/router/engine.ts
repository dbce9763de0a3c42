/** A backend the router may send an app's requests to. */
export interface Backend {
  /** Instance id, e.g. `myapp.v3.web.1`, for logs and headers. */
  id: string;
  host: string;
  port: number;
}

export interface Route {
  app: string;
  /** Host names served, e.g. `myapp.localhost` plus custom domains. */
  hosts: string[];
  backends: Backend[];
  /**
   * Request headers set on every request proxied for this route, replacing
   * any a client sent: how the platform's own route proves to the API that a
   * request came through the router. Names are tokens, values base64url-ish.
   */
  headers?: Record<string, string>;
}

/**
 * The route name of the server's own API and git-over-HTTP (`--api-domain`):
 * no app can have it, since app names start with a letter.
 */
export const PLATFORM_ROUTE = '_slipway';

/** A certificate an app is served with over TLS: PEM chain (leaf first) and PEM private key. */
export interface AppCertificate {
  app: string;
  chain: string;
  key: string;
  /** Answer plain HTTP for the hosts it covers with 308 to https (ACME challenges exempt). */
  redirect?: boolean;
  /** Send Strict-Transport-Security with this max-age on its TLS responses; 0 or absent: none. */
  hstsMaxAge?: number;
}

/** An ACME HTTP-01 challenge: `GET http://HOST/.well-known/acme-challenge/TOKEN` answers `keyAuthorization`. */
export interface AcmeChallenge {
  host: string;
  token: string;
  keyAuthorization: string;
}

/**
 * A router engine turns the routing table into live traffic. The built-in Node
 * proxy is the zero-setup default; other engines (nginx) answer the same calls.
 */
export interface RouterEngine {
  readonly name: string;
  /** Listens on `port` at each address (default: every IPv4 and IPv6 address); a failure to bind any is an error. */
  listen(port: number, hosts?: string | string[]): Promise<void>;
  /** Replaces an app's route atomically: requests after this resolve go to the new backends. */
  setRoute(route: Route): Promise<void>;
  removeRoute(app: string): Promise<void>;
  /** Terminates TLS on `port` at each address (engines that can), for every host whose app has a certificate. */
  listenTls?(port: number, hosts?: string | string[]): Promise<void>;
  /**
   * Replaces every app's certificate at once. An app's certificate is served
   * for those of its route's hosts it covers, never for another app's host;
   * a host without one gets no TLS handshake. Open connections are kept.
   */
  setCertificates?(certs: AppCertificate[]): Promise<void>;
  /**
   * Replaces the ACME HTTP-01 challenges the router answers itself, for
   * their host only, before any app sees the request (whether or not the
   * host is routed yet). Any other request under the path goes to the app.
   */
  setChallenges?(challenges: AcmeChallenge[]): Promise<void>;
  routes(): Route[];
  /**
   * Resolves once none of `backendIds` has a request in flight, or after
   * `timeoutMs` (the engine logs it): then stopping the instance is the lesser
   * evil. Take the backends out of the route first, else new requests keep
   * arriving. Never rejects.
   */
  drain(backendIds: string[], timeoutMs: number): Promise<void>;
  close(): Promise<void>;
  /**
   * Asked before a request goes to a backend (engines that can ask per
   * request): false while the backend's port may not be its instance's —
   * it crashed, or is restarting and something else listens there.
   */
  serves?: (backendId: string) => boolean;
  /**
   * Asked for each new connection to a backend once it is up (engines that
   * can): true when the process that accepted it on `port` is that
   * instance's own. Between an app's listener dying and its instance being
   * seen as down, another app could have taken the port.
   */
  owns?: (port: number, clientPort: number) => boolean | Promise<boolean>;
  /** Told of each answer relayed from an app (both engines; nginx through its access log): its log drains get a router line. */
  onAccess?: (entry: AccessEntry) => void;
  /** Asked before an access entry is built: false when nobody wants the app's router lines (it has no drain). */
  accessWanted?: (app: string) => boolean;
}

/** One request an app answered, as the router saw it: what a router line in the app's log drains says. */
export interface AccessEntry {
  app: string;
  method: string;
  path: string;
  host: string;
  /** The client's address. */
  fwd: string;
  status: number;
  /** The answer's Content-Length, when it had one. */
  bytes?: number;
  protocol: 'http' | 'https';
}
