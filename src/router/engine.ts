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
  routes(): Route[];
  close(): Promise<void>;
}
