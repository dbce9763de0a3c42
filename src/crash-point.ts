/**
 * TEST-ONLY. `SLIPWAY_TEST_CRASH_AT=<point>` in the daemon's environment makes
 * it SIGKILL itself the moment it reaches that point, so the crash test
 * (test/e2e/crash.test.ts) can stop a deploy exactly at a stage boundary:
 * `<stage>:before`, `<stage>:after` (see pipeline/runner.ts), and the points
 * inside a stage named where they are called (`activate:before-switch`,
 * `activate:after-switch`, `bundle:during`). Inert unless set; never set it on
 * a real server.
 */
const CRASH_AT = process.env.SLIPWAY_TEST_CRASH_AT;

export function crashPoint(point: string): void {
  if (CRASH_AT !== undefined && CRASH_AT === point) process.kill(process.pid, 'SIGKILL');
}

/**
 * TEST-ONLY. `SLIPWAY_TEST_REFUSE_START=<instance id>` (e.g. `myapp.v2.web.2`)
 * makes the process driver refuse to start that one instance, as it does when
 * a process cannot be spawned at all — a failure no Procfile can cause, since
 * a command that exits at once was still started. The bring-up test
 * (test/e2e/bring-up.test.ts) uses it. Inert unless set.
 */
const REFUSE_START = process.env.SLIPWAY_TEST_REFUSE_START;

export function startRefused(instanceId: string): boolean {
  return REFUSE_START !== undefined && REFUSE_START === instanceId;
}
