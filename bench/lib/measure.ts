import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { push, type TestServer } from '../../test/e2e/harness.js';

/** How often the router is asked whether the new body is live. */
export const POLL_MS = 20;

export interface PushTarget {
  repo: string;
  remote: string;
  sshCommand?: string;
  /** The branch to push; main unless said. */
  ref?: string;
}

function pushFailed(what: string, code: number, stderr: string): Error {
  return new Error(`${what}: git push exited ${code}\n${stderr}`);
}

/** Wall time of one `git push`, from spawn to exit; throws if the push fails. */
export async function timedPush(target: PushTarget, what: string): Promise<number> {
  const t0 = performance.now();
  const r = await push(target.repo, target.remote, { sshCommand: target.sshCommand, ref: target.ref });
  const ms = performance.now() - t0;
  if (r.code !== 0) throw pushFailed(what, r.code, r.stderr);
  return ms;
}

/**
 * Push-to-live: from the start of `git push` until the router answers with
 * `expected`. The router is polled from the first moment, alongside the push,
 * so the number is when a user would see the new version, not when git exits.
 */
export async function pushUntilServed(
  server: TestServer,
  app: string,
  target: PushTarget,
  expected: string,
  what: string,
  timeoutMs = 120_000,
): Promise<number> {
  const t0 = performance.now();
  const state = { pushDone: false, failure: undefined as Error | undefined, stderr: '' };
  const pushing = push(target.repo, target.remote, { sshCommand: target.sshCommand }).then((r) => {
    state.pushDone = true;
    state.stderr = r.stderr;
    if (r.code !== 0) state.failure = pushFailed(what, r.code, r.stderr);
  });
  const deadline = t0 + timeoutMs;
  while (performance.now() < deadline) {
    if (state.failure) throw state.failure;
    if (await serves(server, app, expected)) {
      const ms = performance.now() - t0;
      // Let git finish so the next step never races a still-running push.
      await pushing;
      if (state.failure) throw state.failure;
      return ms;
    }
    await sleep(POLL_MS);
  }
  await pushing;
  throw (
    state.failure ??
    // git push succeeds whatever its post-receive says: what the deploy printed tells why.
    new Error(
      `${what}: router did not serve "${expected}" within ${timeoutMs}ms (push ${state.pushDone ? 'finished' : 'still running'})\n${state.stderr.slice(-4000)}\n${app}'s logs:\n${server.cli(['logs', app, '-n', '30']).stdout}`,
    )
  );
}

/** True once the router answers 200 with exactly the expected body; errors mean "not yet". */
async function serves(server: TestServer, app: string, expected: string): Promise<boolean> {
  try {
    const r = await server.get(app);
    return r.status === 200 && r.body.trim() === expected;
  } catch {
    return false;
  }
}
