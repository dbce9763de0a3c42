/**
 * Schema migrations, applied in order; the index + 1 is the PRAGMA user_version
 * a database reaches after applying it. Never edit a shipped migration: append.
 */
export const migrations: string[] = [
  `
  CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    created_at INTEGER NOT NULL
  );
  CREATE TABLE ssh_keys (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL UNIQUE,
    public_key TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
  );
  CREATE TABLE tokens (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
  );
  CREATE TABLE apps (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    owner_id INTEGER NOT NULL REFERENCES users(id),
    env TEXT NOT NULL DEFAULT 'staging',
    mode TEXT NOT NULL DEFAULT 'cooking',
    deploy_branch TEXT NOT NULL DEFAULT 'main',
    settings TEXT NOT NULL DEFAULT '{}',
    current_release INTEGER,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE config_vars (
    app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (app_id, key)
  );
  CREATE TABLE formations (
    app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    PRIMARY KEY (app_id, type)
  );
  CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    mode TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    commit_sha TEXT,
    user_name TEXT NOT NULL,
    params TEXT NOT NULL DEFAULT '{}',
    release_version INTEGER,
    current_stage TEXT,
    error TEXT,
    log_path TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER
  );
  CREATE INDEX jobs_app_status ON jobs (app_id, status);
  CREATE TABLE job_stages (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    stage TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'ok', 'skipped', 'failed')),
    started_at INTEGER,
    finished_at INTEGER,
    error TEXT,
    PRIMARY KEY (job_id, seq)
  );
  CREATE TABLE releases (
    id INTEGER PRIMARY KEY,
    app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'pruned')),
    commit_sha TEXT,
    author TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    buildpacks TEXT NOT NULL DEFAULT '[]',
    process_types TEXT NOT NULL DEFAULT '{}',
    config TEXT NOT NULL DEFAULT '{}',
    archive_path TEXT,
    sha256 TEXT,
    size INTEGER,
    source_version INTEGER,
    job_id INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
    error TEXT,
    created_at INTEGER NOT NULL,
    finished_at INTEGER,
    UNIQUE (app_id, version)
  );
  `,
  `
  CREATE TABLE domains (
    hostname TEXT PRIMARY KEY,
    app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE run_markers (
    app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    release INTEGER NOT NULL,
    step TEXT NOT NULL,
    done_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, release, step)
  );
  `,
  `
  CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY,
    app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX webhooks_app ON webhooks (app_id);
  CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    webhook_id INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    job_id INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER,
    last_error TEXT,
    next_attempt_at INTEGER,
    delivered_at INTEGER,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
  `,
  // The runtime driver a release runs on, fixed at its first start (see runtime/multiplexer.ts).
  `
  ALTER TABLE releases ADD COLUMN driver TEXT;
  `,
  // Secret config vars: the value is sealed (src/secrets/), without the in-memory prefix.
  `
  ALTER TABLE config_vars ADD COLUMN secret INTEGER NOT NULL DEFAULT 0;
  `,
  // Projects group apps as named services (the 000 seed).
  `
  CREATE TABLE projects (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (owner_id, name)
  );
  CREATE TABLE services (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    app_id INTEGER NOT NULL UNIQUE REFERENCES apps(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (project_id, name)
  );
  `,
  // Jobs that make something other than a release (a one-off container, a built image) say where it is.
  `
  ALTER TABLE jobs ADD COLUMN result_url TEXT;
  `,
  // Collaborators, password logins and the audit log.
  `
  CREATE TABLE collaborators (
    app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    added_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, user_id)
  );
  CREATE INDEX collaborators_user ON collaborators (user_id);
  ALTER TABLE users ADD COLUMN password_hash TEXT;
  CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    user_name TEXT,
    action TEXT NOT NULL,
    app_name TEXT,
    detail TEXT NOT NULL DEFAULT '{}',
    source TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'failed', 'denied'))
  );
  CREATE INDEX audit_log_app ON audit_log (app_name, id);
  CREATE INDEX audit_log_at ON audit_log (at);
  `,
  // The image a Dockerfile app's release runs from (docker driver); NULL for buildpack releases.
  `
  ALTER TABLE releases ADD COLUMN image TEXT;
  `,
  // Guests: each app's own uid/gid (allocated once, never reused), limits per process type.
  `
  ALTER TABLE apps ADD COLUMN uid INTEGER;
  CREATE UNIQUE INDEX apps_uid ON apps (uid);
  CREATE TABLE uid_sequence (id INTEGER PRIMARY KEY CHECK (id = 1), next INTEGER NOT NULL);
  CREATE TABLE process_limits (
    app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    memory_mb INTEGER,
    cpu_shares INTEGER,
    pids INTEGER,
    PRIMARY KEY (app_id, type)
  );
  `,
  // TLS certificates, one per app (issue 13): own ones now; the attempt and error columns are for ACME renewals.
  `
  CREATE TABLE certs (
    app_id INTEGER PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    source TEXT NOT NULL CHECK (source IN ('own', 'acme')),
    domains TEXT NOT NULL DEFAULT '[]',
    chain TEXT,
    private_key TEXT,
    fingerprint TEXT,
    issuer TEXT,
    not_before INTEGER,
    not_after INTEGER,
    last_attempt_at INTEGER,
    last_error TEXT,
    next_attempt_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CHECK (source = 'acme' OR (chain IS NOT NULL AND private_key IS NOT NULL))
  );
  `,
  // Hosts (issue 14): engines joined to the Swarm the server's own engine manages. `credentials` is the
  // TLS material or SSH key as the secrets box sealed it (NULL for a unix socket or plain TCP).
  `
  CREATE TABLE hosts (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    engine TEXT NOT NULL,
    credentials TEXT,
    node_id TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  `,
  // ACME accounts (issue 13): one per directory URL and email; the key sealed by the secrets box, never plain.
  `
  CREATE TABLE acme_accounts (
    id INTEGER PRIMARY KEY,
    directory TEXT NOT NULL,
    email TEXT NOT NULL DEFAULT '',
    private_key TEXT NOT NULL,
    url TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (directory, email)
  );
  ALTER TABLE certs ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE certs ADD COLUMN hold_until INTEGER;
  `,
  // The server's own certificate (issue 13, `--api-domain` with `--api-cert acme`): one row per name,
  // the key sealed by the secrets box; the attempt columns are the renewal's back-off, as for apps.
  `
  CREATE TABLE platform_certs (
    domain TEXT PRIMARY KEY,
    chain TEXT,
    private_key TEXT,
    issuer TEXT,
    not_before INTEGER,
    not_after INTEGER,
    last_attempt_at INTEGER,
    last_error TEXT,
    next_attempt_at INTEGER,
    failures INTEGER NOT NULL DEFAULT 0,
    hold_until INTEGER,
    updated_at INTEGER NOT NULL,
    CHECK ((chain IS NULL) = (private_key IS NULL))
  );
  `,
  // Git providers and previews (issue 17): vendor accounts per user (the token sealed by the secrets box), each
  // app's webhook secret (sealed), the delivery ids already seen (replays are ignored), and which apps are
  // previews of which parent and branch (the link that lets a branch push update or remove only its own preview).
  `
  CREATE TABLE vendor_accounts (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    vendor TEXT NOT NULL,
    host TEXT NOT NULL,
    username TEXT NOT NULL DEFAULT '',
    token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (user_id, vendor, host)
  );
  CREATE TABLE app_hooks (
    app_id INTEGER PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE hook_deliveries (
    app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    delivery TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, delivery)
  );
  CREATE TABLE previews (
    app_id INTEGER PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    parent_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    branch TEXT NOT NULL,
    pushed_at INTEGER NOT NULL,
    UNIQUE (parent_id, branch)
  );
  `,
  // Log drains (issue 15): where an app's log lines are shipped. `url` is as listings show it (a token in
  // the userinfo or the query masked); `sealed_url`, the whole URL sealed by the secrets box, only when it
  // carries such a token. `token` is the drain's public name, sent as `Logplex-Drain-Token: d.<token>`.
  `
  CREATE TABLE drains (
    id INTEGER PRIMARY KEY,
    app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    token TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    sealed_url TEXT,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX drains_app ON drains (app_id);
  `,
];
