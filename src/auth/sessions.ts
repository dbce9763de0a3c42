import type { Store } from '../store/index.js';
import { mayUse } from './access.js';

/** Who a live session acts for, and with which credential it came in. */
export interface Principal {
  userId: number;
  /** The fingerprint (`SHA256:…`) of the SSH key the connection logged in with. */
  keyFingerprint?: string;
  /** The SHA-256 of the API token the request carried (never the token itself). */
  tokenHash?: string;
}

/** One registered session, as its entrance holds it. */
export interface LiveSession {
  /** The session now works on `app` (follows its logs, runs in it, pushes to it): losing access to it ends the session. */
  useApp(app: string): void;
  /** The session ended on its own: forget it. */
  close(): void;
}

/** What an entrance shows when its session is ended: one line saying why. */
export const endedLine = (reason: string) => ` !     ${reason}; this session is closed\n`;

interface Entry {
  principal: Principal;
  apps: Set<string>;
  end: (reason: string) => void;
}

/**
 * The sessions that outlive the request that opened them — SSH connections
 * and exec channels (commands, `logs -f`, `run`, `enter`, git), API streams
 * (the remote CLI's NDJSON, a followed job log) — with how to end each.
 *
 * Access is checked when a session starts; this keeps it true while the
 * session lasts. After every change that can take access away (the store
 * says so, whichever entrance made it) each session asks again the question
 * it was let in with: does the user still exist, is the key or token still
 * there, may the user still use each app the session works on. A session
 * that no longer passes is ended with the reason. One rule for every kind of
 * revocation, so a new way of losing access needs no new wiring.
 */
export class LiveSessions {
  private readonly entries = new Set<Entry>();
  private scheduled = false;

  constructor(
    private readonly store: Store,
    private readonly log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
  ) {
    store.onAccessChange(() => this.schedule());
  }

  /** Registers a session; `end` is called at most once, with the reason, when its access is gone. */
  open(principal: Principal, end: (reason: string) => void): LiveSession {
    const entry: Entry = { principal, apps: new Set(), end };
    this.entries.add(entry);
    return {
      useApp: (app) => {
        if (!this.entries.has(entry)) return;
        entry.apps.add(app);
        // Access may have gone between the entrance's check and this call.
        const reason = this.revoked(entry);
        if (reason) this.finish(entry, reason);
      },
      close: () => void this.entries.delete(entry),
    };
  }

  /** How many sessions are open (for tests and status). */
  get size(): number {
    return this.entries.size;
  }

  /** Ends every session (the server is stopping), each with the reason. */
  endAll(reason: string): void {
    for (const entry of [...this.entries]) this.finish(entry, reason);
  }

  /** Ends every session whose access is gone. */
  recheck(): void {
    for (const entry of [...this.entries]) {
      const reason = this.revoked(entry);
      if (reason) this.finish(entry, reason);
    }
  }

  /**
   * One recheck after a burst of changes, once the current command's
   * synchronous work is done: `apps:transfer` takes the app from its owner
   * and makes them a collaborator in two steps, and only the end state counts.
   */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      try {
        this.recheck();
      } catch (err) {
        this.log(`sessions: recheck failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
  }

  private finish(entry: Entry, reason: string): void {
    if (!this.entries.delete(entry)) return;
    try {
      entry.end(reason);
    } catch (err) {
      this.log(`sessions: ending a session failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Why the session may not go on, or undefined while it may. */
  private revoked(entry: Entry): string | undefined {
    const { store } = this;
    const { userId, keyFingerprint, tokenHash } = entry.principal;
    const user = store.users.byId(userId);
    if (!user) return 'your user account was removed';
    if (keyFingerprint !== undefined && store.users.keyByFingerprint(keyFingerprint)?.userId !== userId) return 'your SSH key was removed';
    if (tokenHash !== undefined && !store.users.tokenIsLive(tokenHash)) return 'your API token was revoked';
    for (const name of entry.apps) {
      const app = store.apps.byName(name);
      if (!app) return `${name} was destroyed`;
      if (!mayUse(user, app)) return `your access to ${name} was removed`;
    }
    return undefined;
  }
}
